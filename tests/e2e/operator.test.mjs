
test('alerts: the webhook gets the rollback event once, and again after a failed first delivery', async () => {
  let failNext = { cn2: 1 };
  o.hook = await startOrigin('hook', {
    respond: (r) => {
      const route = JSON.parse(r.body).route;
      if (failNext[route] > 0) {
        failNext[route] -= 1;
        return { status: 500, body: { error: 'try again' } };
      }
      return { status: 200, body: { ok: true } };
    },
  });
  const canary = (name) => ({
    name,
    match: { path_prefix: `/${name}` },
    unit: [{ header: 'x-user-id' }],
    strategy: { kind: 'canary', stable: 'stable', canary: 'canary', percent: 5 },
  });
  const cfg = config();
  cfg.origins = originsBlock({ a: o.a, b: o.b, stable: o.stable, canary: o.canary });
  cfg.routes.push(canary('cn1'), canary('cn2'));
  cfg.alerts = { webhooks: [{ url: `${o.hook.url}/hook`, events: ['rollback', 'promote'] }] };
  // A bad webhook is refused with its path.
  const bad = structuredClone(cfg);
  bad.alerts.webhooks[0].events = ['explode'];
  const v = await w().req('/_switchyard/validate', { method: 'POST', body: JSON.stringify(bad) });
  assert.equal(v.status, 422);
  assert.equal(v.json().errors[0].path, '$.alerts.webhooks[0].events[0]');
  await w().applyConfig(cfg);

  const hooks = (route) => o.hook.requests.filter((r) => JSON.parse(r.body).route === route);
  assert.equal((await w().req('/_switchyard/rollback/cn1', { method: 'POST' })).status, 200);
  await waitFor(() => hooks('cn1').length >= 1, 10000, { what: 'rollback webhook for cn1' });
  const body = JSON.parse(hooks('cn1')[0].body);
  assert.equal(body.event, 'rollback');
  assert.match(body.text, /^Switchyard: route cn1 rolled back/);
  assert.equal(body.state.rolled_back, true);
  assert.equal(hooks('cn1')[0].method, 'POST');
  assert.match(hooks('cn1')[0].headers['content-type'], /application\/json/);

  assert.equal((await w().req('/_switchyard/rollback/cn2', { method: 'POST' })).status, 200);
  await waitFor(() => hooks('cn2').length >= 2, 15000, { what: 'second delivery for cn2' });
  await new Promise((r) => setTimeout(r, 6000)); // longer than the whole backoff: no extra sends
  assert.equal(hooks('cn1').length, 1, 'delivered once');
  assert.equal(hooks('cn2').length, 2, 'failed once, then delivered');
  assert.deepEqual(hooks('cn2').map((r) => JSON.parse(r.body).event), ['rollback', 'rollback']);
  // A second rollback of a rolled-back route is not a new event.
  await w().req('/_switchyard/rollback/cn1', { method: 'POST' });
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(hooks('cn1').length, 1);

  const log = (await w().req('/_switchyard/alerts')).json().entries;
  const cn2 = log.filter((e) => e.target === 'cn2').reverse();
  assert.deepEqual(cn2.map((e) => [e.detail.attempt, e.status, e.detail.delivered]), [[1, 500, false], [2, 200, true]]);
  assert.ok(log.every((e) => e.action === 'alert' && e.detail.event === 'rollback'));
  console.log(`# operator: alert deliveries: ${JSON.stringify(log.map((e) => [e.target, e.detail.attempt, e.status]))}`);
});
