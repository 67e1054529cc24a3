// OAuth 2.0 Form Post Response Mode: send the authorization response at once; without
// scripts the resident presses Continue (the page works the same).
document.getElementById("form-post-response").submit();
