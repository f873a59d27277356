// POST /inject as the API server (and a confused client) would call it, through
// app.inject(): no socket, the real fastify pipeline.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BODY_LIMIT, type Decide } from '../../../src/webhook/app.js';
import {
  denyInvalid,
  denyPolicy,
  failingNamespaces,
  injectFixed,
  injectNothing,
  makeApp,
  missingNamespaces,
  pod,
  post,
  review,
  skipAll,
  throwing,
  type Answer,
} from './fixtures.js';
import { applyPatchTo, decodePatch } from '../../support/patch.js';
import { injectPod } from '../../../src/inject/engine.js';
import { trustingNamespaceSource } from '../../../src/webhook/namespace-source.js';

function answer(body: string): Answer {
  return JSON.parse(body) as Answer;
}

describe('content type', () => {
  const cases: Array<[string, string | null, number]> = [
    ['missing', null, 415],
    ['text/plain', 'text/plain', 415],
    ['application/x-www-form-urlencoded', 'application/x-www-form-urlencoded', 415],
    ['application/json', 'application/json', 200],
    ['application/json; charset=utf-8', 'application/json; charset=utf-8', 200],
    ['upper-case APPLICATION/JSON', 'APPLICATION/JSON', 200],
  ];
  for (const [name, contentType, status] of cases) {
    test(`${name} → ${status}`, async () => {
      const { app } = makeApp();
      const res = await post(app, review(), contentType);
      assert.equal(res.statusCode, status, res.body);
      if (status === 415) {
        assert.match(JSON.parse(res.body).message, /Content-Type must be application\/json/);
      }
    });
  }
});

describe('bad bodies are 4xx with a message naming what is wrong', () => {
  const cases: Array<[string, string, number, RegExp]> = [
    ['empty body', '', 400, /body is empty/],
    ['garbage', '{"apiVersion": admission', 400, /not valid JSON/],
    ['a JSON array', '[1,2,3]', 400, /must be a JSON object/],
    ['a JSON string', '"hello"', 400, /must be a JSON object/],
    ['null', 'null', 400, /must be a JSON object/],
    ['no request', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), 400, /request must be an object/],
    ['request is an array', JSON.stringify({ ...review(), request: [] }), 400, /request must be an object/],
    ['no uid', JSON.stringify({ ...review(), request: { ...(review().request as object), uid: undefined } }), 400, /request\.uid/],
    ['empty uid', JSON.stringify(review({ uid: '' })), 400, /request\.uid/],
    ['no object on a Pod CREATE', JSON.stringify(review({ object: undefined })), 400, /request\.object/],
    ['object is a string', JSON.stringify(review({ object: 'pod' })), 400, /request\.object/],
    ['unknown apiVersion', JSON.stringify(review({ apiVersion: 'admission.k8s.io/v2' })), 400, /apiVersion must be one of/],
    ['wrong kind', JSON.stringify({ ...review(), kind: 'Pod' }), 400, /kind must be "AdmissionReview"/],
    ['__proto__ key', '{"__proto__": {"polluted": true}, "apiVersion": "admission.k8s.io/v1"}', 400, /prototype key at \/__proto__/],
    ['__proto__ key written with a \\u escape', '{"apiVersion": "admission.k8s.io/v1", "\\u005f_proto__": {"polluted": true}}', 400, /prototype key at \/__proto__/],
    ['constructor.prototype key', JSON.stringify(review({ object: { metadata: JSON.parse('{"constructor": {"prototype": {}}}') } })), 400, /prototype key at \/request\/object\/metadata\/constructor/],
  ];
  for (const [name, body, status, message] of cases) {
    test(name, async () => {
      const { app } = makeApp();
      const res = await post(app, body);
      assert.equal(res.statusCode, status, res.body);
      const problem = JSON.parse(res.body) as { message: string };
      assert.match(problem.message, message);
    });
  }

  test(`a body over ${BODY_LIMIT} bytes → 413`, async () => {
    const { app } = makeApp();
    const big = review({ object: { ...pod(), padding: 'x'.repeat(BODY_LIMIT) } });
    const res = await post(app, big);
    assert.equal(res.statusCode, 413);
    assert.match(JSON.parse(res.body).message, /larger than/);
  });

  test('a 2 MiB pod (over fastify’s 1 MiB default) is answered', async () => {
    const { app } = makeApp();
    const big = pod();
    big.metadata!.annotations!['example.com/blob'] = 'x'.repeat(2 * 1024 * 1024);
    const res = await post(app, review({ object: big }));
    assert.equal(res.statusCode, 200);
  });

  test('only POST /inject exists', async () => {
    const { app } = makeApp();
    assert.equal((await app.inject({ method: 'GET', url: '/inject' })).statusCode, 404);
    assert.equal((await app.inject({ method: 'POST', url: '/mutate', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(review()) })).statusCode, 404);
  });
});

describe('answers in the version asked, uid echoed', () => {
  for (const apiVersion of ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1']) {
    test(apiVersion, async () => {
      const { app } = makeApp();
      const res = await post(app, review({ apiVersion, uid: 'e911857d-c318-11e8-bbad-025000000001' }));
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /application\/json/);
      const a = answer(res.body);
      assert.equal(a.apiVersion, apiVersion);
      assert.equal(a.kind, 'AdmissionReview');
      assert.equal(a.response.uid, 'e911857d-c318-11e8-bbad-025000000001');
      assert.equal(a.response.allowed, true);
    });
  }
});

describe('requests splice does not decide on pass unchanged', () => {
  const cases: Array<[string, Parameters<typeof review>[0]]> = [
    ['a Deployment', { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, object: { kind: 'Deployment' } }],
    ['a Pod UPDATE', { operation: 'UPDATE' }],
    ['a Pod DELETE without object', { operation: 'DELETE', object: null }],
  ];
  for (const [name, overrides] of cases) {
    test(name, async () => {
      let called = false;
      const { app } = makeApp({
        decide: (input) => {
          called = true;
          return injectFixed(input);
        },
      });
      const a = answer((await post(app, review(overrides))).body);
      assert.equal(a.response.allowed, true);
      assert.equal(a.response.patch, undefined);
      assert.equal(a.response.patchType, undefined);
      assert.equal(called, false, 'the engine was asked');
    });
  }

  test('a pods/binding-style subresource CREATE', async () => {
    const { app } = makeApp({ decide: injectFixed });
    const body = review();
    (body.request as Record<string, unknown>).subResource = 'ephemeralcontainers';
    const a = answer((await post(app, body)).body);
    assert.equal(a.response.allowed, true);
    assert.equal(a.response.patch, undefined);
  });
});

describe('decisions', () => {
  test('inject: the patch is base64 JSON Patch that applies to the pod as sent', async () => {
    const { app } = makeApp({ decide: injectFixed });
    const sent = pod();
    const a = answer((await post(app, review({ object: sent }))).body);
    assert.equal(a.response.allowed, true);
    assert.equal(a.response.patchType, 'JSONPatch');
    assert.ok(a.response.patch);
    assert.ok(decodePatch(a.response.patch).length > 0);
    const result = applyPatchTo(sent, a.response.patch);
    assert.deepEqual(
      result.spec.containers.map((c) => c.name),
      ['app', 'splice-proxy'],
    );
    assert.equal(result.metadata?.annotations?.['splice.dev/status'], '{"containers":["splice-proxy"]}');
    // Fields splice does not model come through untouched.
    assert.deepEqual(result.spec.topologySpreadConstraints, sent.spec.topologySpreadConstraints);
    assert.equal(result.metadata?.annotations?.['example.com/keep'], 'me');
  });

  test('inject with an empty patch sends no patch at all', async () => {
    const { app } = makeApp({ decide: injectNothing });
    const a = answer((await post(app, review())).body);
    assert.equal(a.response.allowed, true);
    assert.equal(a.response.patch, undefined);
    assert.equal(a.response.patchType, undefined);
  });

  test('warnings pass through whole', async () => {
    const long = `splice.dev/exclude-inbound-ports lists 8080, which is also the port of the readiness probe; ${'the probe bypasses the proxy. '.repeat(4)}`;
    const { app } = makeApp({ decide: () => ({ result: 'skip', reasons: [{ id: 'pod_opted_out', message: 'opted out' }], warnings: ['short one', long] }) });
    const a = answer((await post(app, review())).body);
    assert.deepEqual(a.response.warnings, ['splice: short one', `splice: ${long}`]);
  });

  test('skip: allowed, no patch', async () => {
    const { app } = makeApp({ decide: skipAll });
    const a = answer((await post(app, review())).body);
    assert.equal(a.response.allowed, true);
    assert.equal(a.response.patch, undefined);
    assert.equal(a.response.warnings, undefined);
  });

  test('deny for an invalid annotation: allowed false, code 400, the message names key and value', async () => {
    const { app } = makeApp({ decide: denyInvalid });
    const res = await post(app, review());
    assert.equal(res.statusCode, 200);
    const a = answer(res.body);
    assert.equal(a.response.allowed, false);
    assert.equal(a.response.status?.code, 400);
    assert.match(a.response.status?.message ?? '', /splice\.dev\/proxy-cpu: "lots"/);
    assert.equal(a.response.patch, undefined);
  });

  test('deny by policy: code 403', async () => {
    const { app } = makeApp({ decide: denyPolicy });
    const a = answer((await post(app, review())).body);
    assert.equal(a.response.allowed, false);
    assert.equal(a.response.status?.code, 403);
    assert.match(a.response.status?.message ?? '', /Pod Security/);
  });

  test('the engine gets the object exactly as sent, the namespace facts, cluster and config', async () => {
    let seen: unknown;
    const { app } = makeApp({
      decide: (input) => {
        seen = input;
        return skipAll(input);
      },
    });
    const sent = pod();
    await post(app, review({ object: sent, namespace: 'shop' }));
    const input = seen as { pod: unknown; namespace: { name: string }; cluster: unknown; config: { onError: string } };
    assert.deepEqual(input.pod, sent);
    assert.equal(input.namespace.name, 'shop');
    assert.deepEqual(input.cluster, { version: { major: 1, minor: 30 } });
    assert.equal(input.config.onError, 'deny');
  });
});

describe('a pod nested too deeply to write into a patch', () => {
  // JSON.stringify recurses; the body parser does not. A container 100,000 levels deep
  // parses, and only when it must go into the patch (the proxy goes first to hold the
  // app, so every container moves) can splice not write it.
  const depth = 100_000;
  const deepBody = (annotations: Record<string, string>) => {
    const marker = '"__DEEP__"';
    const text = JSON.stringify(
      review({
        object: {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'deep', namespace: 'shop', annotations },
          spec: { containers: [{ name: 'app', image: 'nginx:1.27', extra: '__DEEP__' }] },
        },
      }),
    );
    return text.replace(marker, `${'{"x":'.repeat(depth)}{}${'}'.repeat(depth)}`);
  };
  const enabled = trustingNamespaceSource();

  test('is refused with 400 and a message that says so, not a 500', async () => {
    const { app } = makeApp({ decide: injectPod, namespaces: enabled });
    const res = await post(app, deepBody({ 'splice.dev/hold-application': 'true', 'splice.dev/native-sidecar': 'false' }));
    assert.equal(res.statusCode, 200, res.body);
    const a = answer(res.body);
    assert.equal(a.response.allowed, false);
    assert.equal(a.response.status?.code, 400);
    assert.match(a.response.status?.message ?? '', /nested too deeply/);
  });

  test('is injected when the deep value stays out of the patch', async () => {
    const { app } = makeApp({ decide: injectPod, namespaces: enabled });
    const a = answer((await post(app, deepBody({}))).body);
    assert.equal(a.response.allowed, true);
    assert.ok(a.response.patch);
    assert.ok(decodePatch(a.response.patch).every((op) => !op.path.startsWith('/spec/containers/0')));
  });
});

describe('when splice cannot decide, config.onError chooses', () => {
  const failures = [
    ['the engine throws', { decide: throwing }, /internal error while deciding \(boom in the engine\)/],
    ['the engine returns nonsense', { decide: () => ({ result: 'maybe', reasons: [], warnings: [] }) as never }, /unknown result "maybe"/],
    ['the namespace is unknown', { namespaces: missingNamespaces }, /namespace "shop" is not known to splice/],
    ['the namespace lookup fails', { namespaces: failingNamespaces }, /reading namespace "shop" .* failed .*ECONNREFUSED/],
  ] as const;
  for (const [name, opts, why] of failures) {
    test(`${name}, onError deny → refused with an actionable 5xx status`, async () => {
      const { app } = makeApp({ ...opts, onError: 'deny' });
      const res = await post(app, review());
      assert.equal(res.statusCode, 200, 'the HTTP call itself succeeds: the answer is the refusal');
      const a = answer(res.body);
      assert.equal(a.response.allowed, false);
      assert.ok((a.response.status?.code ?? 0) >= 500);
      assert.match(a.response.status?.message ?? '', why);
      assert.match(a.response.status?.message ?? '', /onError: allow/);
    });
    test(`${name}, onError allow → admitted unchanged with a warning`, async () => {
      const { app } = makeApp({ ...opts, onError: 'allow' });
      const a = answer((await post(app, review())).body);
      assert.equal(a.response.allowed, true);
      assert.equal(a.response.patch, undefined);
      assert.equal(a.response.warnings?.length, 1);
      assert.match(a.response.warnings?.[0] ?? '', why);
    });
  }
});

describe('skips of pods that should have been meshed are handed to the Event writer', () => {
  const owned = (controller: boolean) => ({
    ...pod(),
    metadata: { ...pod().metadata, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d8f', uid: 'rs-uid', controller }] },
  });
  const podSecuritySkip: Decide = () => ({
    result: 'skip',
    reasons: [{ id: 'pod_security_conflict', message: 'namespace shop enforces Pod Security level "restricted"' }],
    warnings: ['pod not meshed: namespace shop enforces Pod Security level "restricted"'],
  });
  const recording = () => {
    const notices: unknown[] = [];
    return { notices, events: { record: (n: unknown) => void notices.push(n) } };
  };

  test('a Pod Security skip of an owned pod: one notice naming the owner and the reason', async () => {
    const { notices, events } = recording();
    const { app } = makeApp({ decide: podSecuritySkip, events });
    const res = await post(app, review({ object: owned(true) }));
    assert.equal(answer(res.body).response.allowed, true);
    assert.deepEqual(notices, [{
      namespace: 'shop',
      owner: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d8f', uid: 'rs-uid' },
      pod: 'web',
      reason: 'pod_security_conflict',
      message: 'namespace shop enforces Pod Security level "restricted"',
    }]);
  });

  test('nothing for a dry run, a pod without a controller, or a skip the user asked for', async () => {
    const { notices, events } = recording();
    const { app } = makeApp({ decide: podSecuritySkip, events });
    await post(app, review({ object: owned(true), dryRun: true }));
    await post(app, review({ object: owned(false) }));
    const { app: optedOut } = makeApp({ decide: skipAll, events });
    await post(optedOut, review({ object: owned(true) }));
    assert.deepEqual(notices, []);
  });
});
