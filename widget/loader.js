/* Counselling chat loader (docs/widget.md). Draws a launcher button; the chat itself
 * runs in an iframe from the chat server's origin. Before the visitor clicks (or the host
 * calls open) it makes no request and writes nothing to the device. Every postMessage
 * names its target origin; the listener checks the sender and knows three methods. */
(/** @param {any} w */ function (w, d) {
  'use strict';
  var s = /** @type {HTMLScriptElement} */ (d.currentScript);
  if (!s || w.__counsellingChat) return;
  w.__counsellingChat = 1;
  var ds = s.dataset;
  var server = new URL(ds.server || s.src, location.href).origin;
  var exit = /^https?:\/\//.test(ds.exit || '') ? ds.exit : 'https://www.google.com/';
  var lang = /^de/i.test(ds.lang || navigator.language || '') ? 'de' : 'en';
  function label() {
    return ds.label || (lang === 'de' ? 'Chat mit der Beratung' : 'Chat with a counsellor');
  }
  var left = ds.position === 'left';
  var colour = ds.color || '#0b5cad';
  var button, box, frame, ready, esc = 0;

  function css(el, rules) {
    for (var k in rules) el.style[k] = rules[k];
  }
  function post(msg) {
    if (ready) frame.contentWindow.postMessage(msg, server);
  }
  function side(el, gap) {
    el.style[left ? 'left' : 'right'] = gap;
  }

  function open() {
    if (!frame) {
      box = d.createElement('div');
      css(box, { position: 'fixed', bottom: '0', zIndex: '2147483646', width: 'min(25rem, 100vw)',
        height: 'min(40rem, 100vh)', boxShadow: '0 0 1rem rgba(0,0,0,.3)', background: '#fff' });
      side(box, '0');
      frame = d.createElement('iframe');
      var hash = new URLSearchParams({ lang: lang, host: location.origin });
      if (ds.pin) hash.set('pin', ds.pin);
      if (ds.topic) hash.set('topic', ds.topic);
      frame.src = server + '/widget/frame/' + encodeURIComponent(ds.team || '') + '#' + hash;
      frame.title = label();
      frame.referrerPolicy = 'no-referrer';
      frame.setAttribute('sandbox', 'allow-scripts allow-same-origin allow-forms allow-downloads');
      css(frame, { border: '0', width: '100%', height: '100%' });
      box.appendChild(frame);
      d.body.appendChild(box);
    }
    box.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    post({ cc: 'open' });
    frame.focus();
  }

  function close() {
    if (!box) return;
    box.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    button.focus();
  }

  function leave() {
    // The frame has wiped its keys and closed the conversation; replace this page so the
    // back button does not lead to it.
    if (box) box.remove();
    location.replace(exit);
  }

  var api = {
    open: open,
    close: close,
    setLanguage: function (l) {
      lang = l === 'de' ? 'de' : 'en';
      button.textContent = label();
      if (frame) frame.title = label();
      post({ cc: 'lang', lang: lang });
    },
  };
  function run(cmd) {
    if (cmd && api[cmd[0]]) api[cmd[0]].apply(null, [].slice.call(cmd, 1));
  }

  w.addEventListener('message', function (e) {
    if (!frame || e.origin !== server || e.source !== frame.contentWindow) return;
    var m = e.data;
    if (!m || typeof m !== 'object') return;
    if (m.cc === 'exit') leave();
    else if (m.cc === 'close') close();
    else if (m.cc === 'ready') {
      ready = 1;
      post({ cc: 'lang', lang: lang });
    }
  });
  d.addEventListener('keydown', function (e) {
    if (e.key !== 'Escape' || !frame || box.hidden) return;
    var now = Date.now();
    if (now - esc < 1500) {
      post({ cc: 'exit' });
      setTimeout(leave, 2000); // the frame answers sooner; leave even if it cannot
    }
    esc = now;
  });

  function init() {
    button = d.createElement('button');
    button.type = 'button';
    button.textContent = label();
    button.setAttribute('aria-expanded', 'false');
    css(button, { position: 'fixed', bottom: '1rem', zIndex: '2147483645', padding: '.75rem 1rem',
      minHeight: '44px', border: '0', borderRadius: '2rem', background: colour,
      color: ds.textColor || '#fff', font: 'bold 1rem sans-serif', cursor: 'pointer' });
    side(button, '1rem');
    button.addEventListener('click', open);
    d.body.appendChild(button);
    var queued = w.CounsellingChat;
    w.CounsellingChat = { push: run, open: open, close: close, setLanguage: api.setLanguage };
    if (queued && queued.length) for (var i = 0; i < queued.length; i++) run(queued[i]);
  }
  if (d.body) init();
  else d.addEventListener('DOMContentLoaded', init);
})(window, document);
