// Streamlit's own words (file uploader, dialogs, menus, tooltips, date picker) in Chinese.
// Streamlit has no translations: this rewrites its English text nodes and title/aria-label/
// placeholder attributes as they appear, from the table app.py passes in (window.__zhUi).
// Only whole strings Streamlit itself writes are matched, so data and our own text are untouched.
(function () {
  var w = window.parent && window.parent.document ? window.parent : window;
  var cfg = window.__zhUiCfg;
  if (!cfg) return;
  w.__zhUi = cfg;                       // the newest table; the observer below reads it
  if (w.__zhUiOn) { w.__zhUiScan && w.__zhUiScan(w.document.body); return; }
  w.__zhUiOn = true;
  var ATTRS = ["title", "aria-label", "placeholder", "data-title"];  // data-title: plotly's toolbar
  function tr(s) {
    var c = w.__zhUi, k = s.trim();
    if (!k || !/[A-Za-z]/.test(k)) return null;
    if (Object.prototype.hasOwnProperty.call(c.exact, k)) return s.replace(k, c.exact[k]);
    for (var i = 0; i < c.patterns.length; i++) {
      var re = new RegExp(c.patterns[i][0]);
      if (re.test(k)) return s.replace(k, k.replace(re, c.patterns[i][1]));
    }
    return null;
  }
  function fixText(n) {
    var p = n.parentElement;
    if (!p || p.closest("script,style,code,pre,[contenteditable],.stMarkdown,.stText,textarea")) return;
    var v = tr(n.nodeValue);
    if (v !== null && v !== n.nodeValue) n.nodeValue = v;
  }
  function fixAttrs(el) {
    for (var i = 0; i < ATTRS.length; i++) {
      var a = el.getAttribute && el.getAttribute(ATTRS[i]);
      if (a) { var v = tr(a); if (v !== null && v !== a) el.setAttribute(ATTRS[i], v); }
    }
  }
  function scan(root) {
    if (!root) return;
    if (root.nodeType === 3) { fixText(root); return; }
    if (root.nodeType !== 1) return;
    fixAttrs(root);
    var it = w.document.createTreeWalker(root, 5 /* elements and text */);
    for (var n = it.nextNode(); n; n = it.nextNode()) {
      if (n.nodeType === 3) fixText(n); else fixAttrs(n);
    }
  }
  w.__zhUiScan = scan;
  new w.MutationObserver(function (muts) {
    for (var i = 0; i < muts.length; i++) {
      var m = muts[i];
      if (m.type === "characterData") fixText(m.target);
      else if (m.type === "attributes") fixAttrs(m.target);
      else for (var j = 0; j < m.addedNodes.length; j++) scan(m.addedNodes[j]);
    }
  }).observe(w.document.body, {childList: true, subtree: true, characterData: true,
                               attributes: true, attributeFilter: ATTRS});
  scan(w.document.body);
})();
