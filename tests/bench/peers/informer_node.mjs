// The peer benchmark's informer on @kubernetes/client-node: its own
// makeInformer (one unpaged list, then a watch; the library's ObjectCache),
// a de-duplicating work queue and an async worker loop running the bench's
// no-op reconcile (see tests/bench/peer_bench.py for the protocol it speaks
// on stdout).
//
//   node informer_node.mjs SERVER TOKEN GROUP VERSION PLURAL
//
// An ES module (the library is one, and node 18 cannot require() it), run
// from a copy beside its node_modules so `import` finds the package.
import * as k8s from '@kubernetes/client-node';

const [server, token, group, version, plural] = process.argv.slice(2);
const now = () => Number(process.hrtime.bigint()) / 1e9; // CLOCK_MONOTONIC, as the bench's
const say = (fields) => process.stdout.write(JSON.stringify(fields) + '\n');

const kc = new k8s.KubeConfig();
kc.loadFromOptions({
  clusters: [{ name: 'bench', server, skipTLSVerify: true }],
  users: [{ name: 'bench', token }],
  contexts: [{ name: 'bench', cluster: 'bench', user: 'bench' }],
  currentContext: 'bench',
});
const api = kc.makeApiClient(k8s.CustomObjectsApi);
const informer = k8s.makeInformer(kc, `/apis/${group}/${version}/${plural}`,
  () => api.listClusterCustomObject({ group, version, plural }));

// Counts reconciles of objects stamped bench/round = R; says when a round
// reaches its bench/expect.
let round = null;
let count = 0;
function reconcile(obj) {
  const ann = (obj.metadata && obj.metadata.annotations) || {};
  const r = ann['bench/round'];
  if (!r) return;
  if (r !== round) { round = r; count = 0; }
  count++;
  if (count === Number(ann['bench/expect'] || 0)) say({ event: 'round', round: r, count, t: now() });
}

const pending = new Set();
let draining = false;
function drain() {
  // One worker: take a batch of keys, reconcile each from the cache, yield.
  for (const key of pending) {
    pending.delete(key);
    const [ns, name] = key.split('/');
    const obj = informer.get(name, ns || undefined);
    if (obj) reconcile(obj);
  }
  draining = false;
}
function enqueue(obj) {
  pending.add(`${obj.metadata.namespace || ''}/${obj.metadata.name}`);
  if (!draining) { draining = true; setImmediate(drain); }
}
informer.on('add', enqueue);
informer.on('update', enqueue);
informer.on('error', (err) => { say({ event: 'error', error: String(err) }); process.exit(1); });
informer.start().then(() => say({ event: 'synced', objects: informer.list().length, t: now() }));
