// widget/chat-core.js alone, on Node's WebCrypto: no DOM, no socket, no server. The test
// plays the server (seq numbers, acks, resume) and the team (tests/js's own Channel on the
// "t2c" side, the accept made with e2e.js), and tampers with frames on the way.
// Run: node tests/js/widget_core.mjs   (last line "N passed, M failed")

import * as e2e from '../../widget/shared/e2e.js';
import { Channel, Chat, sessionStore, solvePow } from '../../widget/chat-core.js';
import { t } from '../../widget/i18n.js';

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
function eq(a, b, what) {
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${what}: ${JSON.stringify(a)} !== ${JSON.stringify(b)}`);
}

function memory() {
  const m = new Map();
  return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => m.set(k, String(v)), clear: () => m.clear(), m };
}

/** A team with one epoch, a server log, and a client Chat wired to both. */
async function world(storage = memory()) {
  const root = await e2e.generateEcdsa();
  const epochKey = await e2e.generateEcdh();
  const rPub = await e2e.publicBytes(root);
  const tPub = await e2e.publicBytes(epochKey);
  const now = Date.now();
  const wire = await e2e.signBundle(root.privateKey, rPub, { team: 'alpha', epoch: 7, tPub, notBefore: now - 1000, notAfter: now + 3600e3 });
  const w = { storage, wire, epochKey, pin: await e2e.pin(rPub), log: [], sent: [], events: [], cid: 'conv-1' };
  w.chat = (pin = w.pin) => {
    const chat = new Chat({ store: sessionStore(storage), transmit: (f) => w.sent.push(f), emit: (type, data) => w.events.push({ type, ...data }),
      team: 'alpha', topic: null, pin, consent: 'w1' });
    return chat;
  };
  // The server: store a frame, answer the sender with an ack, give the stored frame.
  w.store = (sender, f) => {
    const stored = { type: 'message', conversation: w.cid, seq: w.log.length + 1, sender, id: f.id, body: f.body, gen: f.gen, n: f.n, kind: f.kind || 'msg', at: 0 };
    w.log.push(stored);
    return stored;
  };
  w.messages = (who) => w.events.filter((e) => e.type === 'message' && (!who || e.who === who)).map((e) => e.text);
  w.problems = () => w.events.filter((e) => e.type === 'problem').map((e) => e.code);
  return w;
}

/** Started, one queued message stored, accepted by the team: the team's Channel. */
async function accepted(w, queued = ['hello']) {
  const chat = w.chat();
  await chat.checkBundle(w.wire);
  await chat.create();
  await chat.connected({});
  eq(w.sent.at(-1).type, 'start', 'start frame');
  await chat.onFrame({ type: 'started', conversation: w.cid, token: 'token-token-token-1', position: 1 });
  for (const text of queued) {
    await chat.say(text);
    const f = w.sent.at(-1);
    await chat.onFrame({ type: 'ack', id: f.id, seq: w.store('client', f).seq });
  }
  const team = new Channel(w.cid, 't2c');
  const cPub = e2e.b64decode(w.sent.find((f) => f.type === 'start').client_key);
  const b = await e2e.checkBundle(w.wire, { pin: null, team: 'alpha' });
  team.keys.set(0, await e2e.queueKeys(w.epochKey.privateKey, cPub, 'alpha', 7, w.cid, cPub));
  const bodies = [];
  for (const f of w.log.filter((m) => m.sender === 'client')) {
    await team.open(f);
    bodies.push(e2e.b64decode(f.body));
  }
  const eKey = await e2e.generateEcdh();
  const ePub = await e2e.publicBytes(eKey);
  const tr = await e2e.transcript({ team: 'alpha', epoch: 7, bundleHash: b.bundleHash, cid: w.cid, cPub, ePub, nSeen: bodies.length, queueHash: await e2e.queueHash(bodies) });
  const body = await e2e.makeAccept({ kQT2c: team.keys.get(0).t2c, team: 'alpha', epoch: 7, cid: w.cid, cPub, ePub, nSeen: bodies.length, transcript: tr });
  const n = team.sent.get(0) ?? 0;
  team.sent.set(0, n + 1);
  await chat.onFrame(w.store('team', { id: `t0-${n}`, body: e2e.b64encode(body), gen: 0, n, kind: 'accept' }));
  team.keys.set(1, await e2e.chatKeys(await e2e.ecdh(eKey.privateKey, cPub), await e2e.ecdh(w.epochKey.privateKey, cPub), tr));
  team.gen = 1;
  return { chat, team };
}

async function teamSays(w, chat, team, text, kind = 'msg') {
  const s = kind === 'close' ? await team.sealClose() : await team.seal(text, kind);
  const f = w.store('team', { ...s, body: e2e.b64encode(s.body) });
  await chat.onFrame(f);
  return f;
}

test('a whole conversation: queue, accept, both ways, read marks, clean close', async () => {
  const w = await world();
  const { chat, team } = await accepted(w);
  eq(chat.channel.gen, 1, 'generation after the accept');
  eq(w.events.filter((e) => e.type === 'status').map((e) => e.status), ['stored', 'read'], 'delivery states');
  await teamSays(w, chat, team, 'hi, Anna here');
  await chat.say('thanks');
  const mine = w.sent.at(-1);
  eq([mine.gen, mine.n], [1, 0], 'first chat message');
  const stored = w.store('client', mine);
  await chat.onFrame({ type: 'ack', id: mine.id, seq: stored.seq });
  eq((await team.open(stored)).text, 'thanks', 'the team reads it');
  await teamSays(w, chat, team, '', 'close');
  eq(w.problems(), [], 'no problems');
  eq(chat.channel.closed, true, 'final counts match');
  eq(w.messages(), ['hello', 'hi, Anna here', 'thanks'], 'shown');
  eq(w.problems(), [], 'no problems');
});

test('replay, equivocation, reflection and a gap are refused and shown', async () => {
  const w = await world();
  const { chat, team } = await accepted(w);
  await chat.say('mine');
  const mine = w.sent.at(-1);
  await chat.onFrame({ ...w.store('team', mine) }); // reflected back as the team's
  const f = await teamSays(w, chat, team, 'one');
  await chat.onFrame({ ...f, seq: w.log.length + 1 }); // the same again under a new seq
  w.log.push(f);
  team.sent.set(1, 0); // another message claims the place of "one"
  const twin = await team.seal('other one');
  await chat.onFrame(w.store('team', { ...twin, body: e2e.b64encode(twin.body) }));
  team.sent.set(1, 2);
  await teamSays(w, chat, team, 'after a gap'); // n = 2, while 1 never arrived
  eq(w.problems(), ['reflected', 'replay', 'equivocation', 'missing'], 'problems');
  eq(w.messages('team'), ['one'], 'only the genuine message is shown');
});

test('frames are handled in seq order and duplicates dropped', async () => {
  const w = await world();
  const { chat, team } = await accepted(w);
  const a = await team.seal('first');
  const b = await team.seal('second');
  const fa = w.store('team', { ...a, body: e2e.b64encode(a.body) });
  const fb = w.store('team', { ...b, body: e2e.b64encode(b.body) });
  await chat.onFrame(fb);
  eq(w.messages('team'), [], 'waits for the lower seq');
  await chat.onFrame(fa);
  await chat.onFrame(fa);
  eq(w.messages('team'), ['first', 'second'], 'in order, once');
  clearTimeout(chat.gapTimer);
});

test('a reload resumes from the tab storage and rebuilds the history once', async () => {
  const storage = memory();
  const w = await world(storage);
  const { chat, team } = await accepted(w, ['one', 'two']);
  await teamSays(w, chat, team, 'answer');
  await chat.say('three');
  await chat.onFrame({ type: 'ack', id: w.sent.at(-1).id, seq: w.store('client', w.sent.at(-1)).seq });
  await chat.say('unacked'); // lost with the connection: stays in the outbox
  const saved = JSON.parse(storage.getItem('counselling-chat'));
  eq(saved.outbox.length, 1, 'the outbox holds the unacked message');
  eq(JSON.stringify(saved).includes('unacked'), false, 'no plaintext stored');

  w.events.length = 0;
  w.sent.length = 0;
  const again = w.chat();
  eq(await again.restore(), true, 'restored');
  await again.connected({});
  eq(w.sent[0], { type: 'resume', conversation: w.cid, token: 'token-token-token-1', last_seq: 0 }, 'resume');
  await again.onFrame({ type: 'resumed', conversation: w.cid, state: 'active', last_seq: w.log.length, client_key: saved.pub });
  for (const f of w.log) await again.onFrame(f);
  eq(w.messages(), ['one', 'two', 'answer', 'three', 'unacked'], 'history once, the unacked one last');
  eq(w.sent.slice(1).map((f) => f.id), ['c1-1'], 'the unacked message is sent again');
  await again.say('four');
  eq([w.sent.at(-1).gen, w.sent.at(-1).n], [1, 2], 'counters continue');
  const back = await teamSays(w, again, team, 'welcome back');
  eq(w.messages('team').at(-1), 'welcome back', 'the team still reads and writes');
  void back;
});

test('a backlog of more than a page is fetched page by page, in order, once', async () => {
  const storage = memory();
  const w = await world(storage);
  const { team } = await accepted(w);
  const texts = [];
  for (let i = 0; i < 1203; i++) {
    const s = await team.seal(`m${i}`);
    w.store('team', { ...s, body: e2e.b64encode(s.body) });
    texts.push(`m${i}`);
  }
  w.events.length = 0;
  w.sent.length = 0;
  const again = w.chat();
  await again.restore();
  await again.connected({});
  const target = w.log.length;
  const live = await team.seal('live'); // arrives while the backlog is still coming
  const liveFrame = w.store('team', { ...live, body: e2e.b64encode(live.body) });
  await again.onFrame({ type: 'resumed', conversation: w.cid, state: 'active', last_seq: target, client_key: JSON.parse(storage.getItem('counselling-chat')).pub });
  const page = (after) => w.log.filter((f) => f.seq > after).slice(0, 500);
  for (const f of page(0)) await again.onFrame(f);
  await again.onFrame(liveFrame);
  const asked = [];
  for (let f = w.sent.at(-1); f?.type === 'fetch' && asked.length < 5; f = w.sent.at(-1)) {
    asked.push(f.after);
    w.sent.push({ type: 'answered' });
    for (const m of page(f.after)) await again.onFrame(m);
  }
  eq(asked, [500, 1000], 'two more pages, each asked once its predecessor was in');
  eq(w.messages('team'), [...texts, 'live'], 'every message once, in order');
  eq(again.have, w.log.length, 'caught up');
  eq(w.problems(), [], 'no problems');
  clearTimeout(again.gapTimer);
});

test('a frame of an unknown type is refused and shown, not dropped', async () => {
  const w = await world();
  const { chat, team } = await accepted(w);
  await chat.onFrame({ type: 'position', position: 1 }); // known types: no problem
  await chat.onFrame({ type: 'typing', sender: 'team', active: true });
  eq(w.problems(), [], 'known frames');
  await chat.onFrame({ type: 'receipt', conversation: w.cid, id: 't1-0' });
  await chat.onFrame({ conversation: w.cid }); // no type at all
  eq(w.problems(), ['unknownKind', 'unknownKind'], 'both refused as protocol problems');
  for (const lang of ['en', 'de']) {
    const text = t(lang, 'unknownKind');
    eq(text !== 'unknownKind' && text.length > 0, true, `the page has a ${lang} text for it`);
  }
  await teamSays(w, chat, team, 'still here'); // the conversation goes on
  eq(w.messages('team'), ['still here'], 'later frames are handled');
  eq(w.problems(), ['unknownKind', 'unknownKind'], 'nothing else refused');
});

test('a wrong pin refuses the bundle', async () => {
  const w = await world();
  const other = await e2e.pin(await e2e.publicBytes(await e2e.generateEcdsa()));
  try {
    await w.chat(other).checkBundle(w.wire);
  } catch (err) {
    return eq(err.reason, 'pin_mismatch', 'reason');
  }
  throw new Error('accepted a bundle that does not match the pin');
});

test('quick exit wipes the tab storage and sends final counts and close', async () => {
  const storage = memory();
  const w = await world(storage);
  const { chat } = await accepted(w);
  await chat.leave();
  eq(storage.m.size, 0, 'storage wiped');
  eq(w.sent.slice(-2).map((f) => f.kind || f.type), ['close', 'close'], 'e2e close, then close');
  await chat.say('too late?').catch(() => {});
  eq(storage.m.size, 0, 'nothing written after the wipe');
});

test('the proof of work meets the difficulty', async () => {
  const nonce = await solvePow({ challenge: 'abc', difficulty: 8 });
  const d = await e2e.sha256(new TextEncoder().encode(`abc:${nonce}`));
  eq(d[0], 0, 'first byte zero');
});

let passed = 0;
let failed = 0;
for (const { name, fn } of tests) {
  try {
    await fn();
    passed++;
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${err.stack || err}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
