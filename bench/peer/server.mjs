// The performance peer: node-oidc-provider v9, configured like mtlid's identity service for the
// measured endpoints (issue 8): client credentials (RFC 6749 s. 4.4) with JWT access tokens
// (RFC 9068, ES256) for the resource server `urn:mtlid:accounts` chosen by a resource indicator
// (RFC 8707), a 300 s lifetime, the contract scopes, token introspection (RFC 7662), and the
// default in-memory adapter. One Node process, as mtlid runs one Python process.
//
// Usage: node peer/server.mjs   (env: PEER_PORT, PEER_CLIENT_SECRET, PEER_ACCESS_TOKEN_TTL;
// prints "ready <port>"). The harness checks that both sides' tokens have the same shape.

import { generateKeyPairSync } from 'node:crypto';

import Provider from 'oidc-provider';

const port = Number(process.env.PEER_PORT || 3000);
const host = '127.0.0.1';
const issuer = `http://${host}:${port}`;
const secret = process.env.PEER_CLIENT_SECRET || 'bench-secret-0123456789abcdef0123456789';

// Same lifetime (mtlid's access_token_ttl) and scopes (docs/contracts.md) as mtlid.
const ACCESS_TOKEN_TTL = Number(process.env.PEER_ACCESS_TOKEN_TTL || 600);
const ACCOUNTS = 'urn:mtlid:accounts';
// Opaque tokens exist only because node-oidc-provider refuses to introspect its own JWT access
// tokens (shared/reject_structured_tokens.js): its introspection is measured on these.
const OPAQUE = 'urn:mtlid:bench-opaque';
const SCOPES = ['accounts:release', 'accounts:link', 'consent:check', 'consent:record',
  'identity:validate', 'identity:resolve'];

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-es256', use: 'sig', alg: 'ES256' };

const resourceServers = {
  [ACCOUNTS]: { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } },
  [OPAQUE]: { accessTokenFormat: 'opaque' },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'bench-client',
    client_secret: secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: SCOPES.join(' '),
  }],
  jwks: { keys: [jwk] },
  scopes: SCOPES,
  // Only ES256 is in the keystore, as in mtlid.
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
  ttl: { ClientCredentials: ACCESS_TOKEN_TTL, AccessToken: ACCESS_TOKEN_TTL },
  cookies: { keys: ['bench-cookie-key-not-a-secret-0123456789'] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    // The default policy (a confidential caller may introspect), without its startup notice.
    introspection: { enabled: true, allowedPolicy: (ctx, client) => client.clientAuthMethod !== 'none' },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => ACCOUNTS,
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, resourceIndicator) {
        const server = resourceServers[resourceIndicator];
        if (!server) throw new Provider.errors.InvalidTarget();
        return { ...server, audience: resourceIndicator, scope: SCOPES.join(' '),
          accessTokenTTL: ACCESS_TOKEN_TTL };
      },
    },
  },
});
provider.proxy = false;

const server = provider.listen(port, host, () => {
  process.stdout.write(`ready ${port}\n`);
});

function stop() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
