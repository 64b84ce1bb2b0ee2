// acme-client (npm, publishlab/node-acme-client) against certdesk's ACME server, run by
// tests/acme/test_node_client.py (R17, issue 13) as: node node_client.mjs <job.json>
//
// job.json: {directory, kid, hmacKey, httpPort, email, newEmail, names: [..], outside,
//            certOut, resultOut}
// 1. an account with EAB (externalAccountBinding given to the Client constructor);
// 2. client.auto() for `names` on an EC key by http-01, the key authorization served by a
//    tiny http server on 127.0.0.1:<httpPort> (where certdesk's VA connects);
// 3. the certificate PEM written to certOut, then revoked as superseded (reason 4);
// 4. keyChange to a P-384 key, and a new contact signed by it;
// 5. an order for `outside` (not in the organization's grant), which must throw;
// 6. the account deactivated.
// resultOut gets {revoked, contact, refused: {message, type}, status}. https to certdesk is
// verified against NODE_EXTRA_CA_CERTS, set by the test.
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';

import acme from 'acme-client';

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));

// The problem document of the last refused request: acme-client's errors carry its `detail`
// only, the test wants its `type` too.
let lastProblem = null;
acme.axios.interceptors.response.use((resp) => {
    if (resp.status >= 400 && resp.data && typeof resp.data === 'object') {
        lastProblem = resp.data;
    }
    return resp;
});

const challenges = new Map();
const server = http.createServer((req, res) => {
    const prefix = '/.well-known/acme-challenge/';
    const token = req.url.startsWith(prefix) ? req.url.slice(prefix.length) : null;
    if (token !== null && challenges.has(token)) {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        res.end(challenges.get(token));
    }
    else {
        res.writeHead(404);
        res.end();
    }
});
await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(job.httpPort, '127.0.0.1', resolve);
});

const result = { revoked: false, refused: null };
try {
    const client = new acme.Client({
        directoryUrl: job.directory,
        accountKey: await acme.crypto.createPrivateEcdsaKey(),
        externalAccountBinding: { kid: job.kid, hmacKey: job.hmacKey },
    });
    await client.createAccount({
        termsOfServiceAgreed: true,
        contact: [`mailto:${job.email}`],
    });

    const certKey = await acme.crypto.createPrivateEcdsaKey();
    const [, csr] = await acme.crypto.createCsr({ altNames: job.names }, certKey);
    const cert = await client.auto({
        csr,
        challengePriority: ['http-01'],
        // acme-client would first fetch http://<name>/.well-known/... itself: the names are
        // not in DNS here, only certdesk's VA knows where to connect.
        skipChallengeVerification: true,
        challengeCreateFn: async (authz, challenge, keyAuthorization) => {
            challenges.set(challenge.token, keyAuthorization);
        },
        challengeRemoveFn: async (authz, challenge) => {
            challenges.delete(challenge.token);
        },
    });
    writeFileSync(job.certOut, cert);

    await client.revokeCertificate(cert, { reason: 4 }); // superseded
    result.revoked = true;

    // RFC 8555 §7.3.5 keyChange, then the account under its new key: its contact changed.
    await client.updateAccountKey(await acme.crypto.createPrivateEcdsaKey('P-384'));
    const account = await client.updateAccount({ contact: [`mailto:${job.newEmail}`] });
    result.contact = account.contact;

    lastProblem = null;
    try {
        await client.createOrder({ identifiers: [{ type: 'dns', value: job.outside }] });
    }
    catch (e) {
        result.refused = { message: String(e.message), type: lastProblem && lastProblem.type };
    }

    const deactivated = await client.updateAccount({ status: 'deactivated' });
    result.status = deactivated.status;
}
finally {
    server.close();
    writeFileSync(job.resultOut, JSON.stringify(result));
}
