// review.js: the review page's behaviour: filters, sorting, a virtualised grid (only the cells in
// view exist, thumbnails decoded on demand), the scene overview, corrections and their CSV export.
(function () {
  'use strict';
  var C = DATA.classes, S = DATA.scenes, T = DATA.tiles, N = T.length;
  // T[i]: [scene, row, col, left, upper, right, lower, class (-1 nodata), score, top3 [[c, p]...]]
  var CELL_W = 132, CELL_H = 168, BUFFER_ROWS = 3;
  var corr = new Map(); // tile -> class index, corrected or accepted
  var view = [], slots = [], perRow = 1, sel = -1, drawn = new Map();
  var $ = function (id) { return document.getElementById(id); };
  var grid = $('grid'), spacer = $('spacer'), sceneSel = $('scene'), clsSel = $('cls'),
      sortSel = $('sort'), canvas = $('overview'), ctx = canvas.getContext('2d');
  var overviewImg = new Map();

  function labelOf(i) { return corr.has(i) ? corr.get(i) : T[i][7]; }
  function className(c) { return c < 0 ? 'nodata' : C[c].name; }
  function classColor(c) { return c < 0 ? '#808080' : C[c].color; }
  function fmt(p) { return p === null || p === undefined ? '-' : p.toFixed(3); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function fillControls() {
    sceneSel.appendChild(new Option('all scenes (' + S.length + ')', ''));
    S.forEach(function (s, k) { sceneSel.appendChild(new Option(s.name, String(k))); });
    clsSel.appendChild(new Option('all classes', ''));
    C.forEach(function (c, k) { clsSel.appendChild(new Option(c.name, String(k))); });
    clsSel.appendChild(new Option('nodata', '-1'));
    if (S.length === 1) sceneSel.value = '0';
  }

  function legend() {
    var box = $('legend'), counts = new Array(C.length).fill(0);
    for (var i = 0; i < N; i++) if (labelOf(i) >= 0) counts[labelOf(i)]++;
    box.textContent = '';
    C.forEach(function (c, k) {
      var b = el('button');
      b.dataset.cls = k;
      b.title = 'set the selected tile to ' + c.name;
      b.appendChild(el('span', 'key', k < 10 ? String((k + 1) % 10) : ''));
      var sw = el('span', 'swatch');
      sw.style.background = c.color;
      b.appendChild(sw);
      b.appendChild(el('span', '', c.name + ' (' + counts[k] + ')'));
      b.addEventListener('click', function () { correct(sel, k); });
      box.appendChild(b);
    });
  }

  function applyFilters() {
    var s = sceneSel.value, c = clsSel.value;
    view = [];
    for (var i = 0; i < N; i++) {
      if (s !== '' && T[i][0] !== +s) continue;
      if (c !== '' && labelOf(i) !== +c) continue;
      view.push(i);
    }
    if (sortSel.value === 'score') {
      // Least confident first; nodata (no score) last; ties in scene order.
      view.sort(function (a, b) {
        var x = T[a][8] === null ? 2 : T[a][8], y = T[b][8] === null ? 2 : T[b][8];
        return x - y || a - b;
      });
    }
    $('count').textContent = view.length + ' of ' + N + ' tiles';
    $('count').dataset.shown = view.length;
    $('count').dataset.total = N;
    layout();
    drawOverview();
  }

  // Slots are grid positions; in a single scene's grid order a tile sits at its (row, col).
  function layout() {
    var s = sceneSel.value;
    if (s !== '' && sortSel.value === 'pos') {
      var sc = S[+s];
      perRow = sc.cols;
      slots = new Array(sc.rows * sc.cols).fill(-1);
      view.forEach(function (i) { slots[T[i][1] * sc.cols + T[i][2]] = i; });
    } else {
      perRow = Math.max(1, Math.floor(grid.clientWidth / CELL_W));
      slots = view;
    }
    spacer.style.width = perRow * CELL_W + 'px';
    spacer.style.height = Math.ceil(slots.length / perRow) * CELL_H + 'px';
    drawn.forEach(function (e) { e.remove(); });
    drawn.clear();
    render();
  }

  function cell(i, k) {
    var t = T[i], c = labelOf(i), e = el('div', 'cell');
    e.dataset.i = i;
    e.style.left = (k % perRow) * CELL_W + 'px';
    e.style.top = Math.floor(k / perRow) * CELL_H + 'px';
    if (i === sel) e.classList.add('sel');
    if (corr.has(i)) e.classList.add('corr');
    var pic = el('div', 'pic');
    if (THUMBS[i]) {
      var img = new Image();
      img.decoding = 'async';
      img.alt = S[t[0]].name + ' ' + t[1] + ',' + t[2];
      img.src = 'data:image/jpeg;base64,' + THUMBS[i];
      pic.appendChild(img);
    }
    e.appendChild(pic);
    var lab = el('div', 'lab', className(c));
    lab.style.background = classColor(c);
    e.appendChild(lab);
    e.appendChild(el('div', 'meta', 'score ' + fmt(t[8]) + '  r' + t[1] + ' c' + t[2]));
    var top = t[9].map(function (p) { return className(p[0]) + ' ' + p[1].toFixed(2); }).join(', ');
    e.appendChild(el('div', 'meta', top || S[t[0]].name));
    return e;
  }

  function render() {
    var first = Math.max(0, Math.floor(grid.scrollTop / CELL_H) - BUFFER_ROWS);
    var last = Math.ceil((grid.scrollTop + grid.clientHeight) / CELL_H) + BUFFER_ROWS;
    var lo = first * perRow, hi = Math.min(slots.length, last * perRow), keep = new Set();
    for (var k = lo; k < hi; k++) {
      var i = slots[k];
      if (i < 0) continue;
      keep.add(i);
      if (!drawn.has(i)) {
        var e = cell(i, k);
        drawn.set(i, e);
        spacer.appendChild(e);
      }
    }
    drawn.forEach(function (e, i) {
      if (!keep.has(i)) { e.remove(); drawn.delete(i); }
    });
  }

  function redrawCell(i) {
    var old = drawn.get(i);
    if (!old) return;
    var k = slots.indexOf(i), e = cell(i, k);
    old.replaceWith(e);
    drawn.set(i, e);
  }

  function select(i, scroll) {
    var prev = sel;
    sel = i;
    if (prev >= 0) redrawCell(prev);
    if (i >= 0) redrawCell(i);
    detail();
    drawOverview();
    if (scroll && i >= 0) {
      var k = slots.indexOf(i), top = Math.floor(k / perRow) * CELL_H;
      if (top < grid.scrollTop || top + CELL_H > grid.scrollTop + grid.clientHeight)
        grid.scrollTop = top - grid.clientHeight / 2;
    }
  }

  function correct(i, c) {
    if (i < 0 || c < 0 || c >= C.length) return;
    corr.set(i, c);
    $('ncorr').textContent = corr.size;
    redrawCell(i);
    detail();
    legend();
    drawOverview();
  }

  function detail() {
    var box = $('detail');
    box.textContent = '';
    if (sel < 0) { box.textContent = 'Select a tile.'; return; }
    var t = T[sel], s = S[t[0]];
    box.appendChild(el('div', '', s.name + '  row ' + t[1] + ', col ' + t[2]));
    box.appendChild(el('div', '', 'pixels x ' + t[3] + '-' + t[5] + ', y ' + t[6] + '-' + t[4]));
    box.appendChild(el('div', '', 'predicted: ' + className(t[7]) + ' (' + fmt(t[8]) + ')'));
    if (corr.has(sel)) box.appendChild(el('div', '', 'truth: ' + className(corr.get(sel))));
    var probs = el('div', 'probs');
    t[9].forEach(function (p) {
      var row = el('div'), bar = el('span', 'bar');
      bar.style.width = Math.round(p[1] * 120) + 'px';
      bar.style.background = classColor(p[0]);
      row.appendChild(bar);
      row.appendChild(el('span', '', className(p[0]) + ' ' + p[1].toFixed(3)));
      probs.appendChild(row);
    });
    box.appendChild(probs);
  }

  // The overview of the selected tile's scene (or the filtered scene), tiles in class colours.
  function overviewScene() {
    if (sel >= 0) return T[sel][0];
    return sceneSel.value !== '' ? +sceneSel.value : (N ? T[view.length ? view[0] : 0][0] : -1);
  }

  function drawOverview() {
    var k = overviewScene(), s = S[k];
    if (k < 0 || !s) return;
    var w = s.ow || 360, h = s.oh || 240, scale = canvas.width / w;
    canvas.height = Math.max(1, Math.round(h * scale));
    ctx.fillStyle = '#ddd';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    var sx = s.w ? canvas.width / s.w : 1, sy = s.h ? canvas.height / s.h : 1;
    var paint = function () {
      for (var i = 0; i < N; i++) {
        var t = T[i];
        if (t[0] !== k) continue;
        var x = Math.min(t[3], t[5]) * sx, y = Math.min(t[4], t[6]) * sy,
            tw = Math.abs(t[5] - t[3]) * sx, th = Math.abs(t[4] - t[6]) * sy;
        ctx.globalAlpha = 0.35;
        ctx.fillStyle = classColor(labelOf(i));
        ctx.fillRect(x, y, tw, th);
        ctx.globalAlpha = 1;
        ctx.strokeStyle = classColor(labelOf(i));
        ctx.lineWidth = 1;
        ctx.strokeRect(x + 0.5, y + 0.5, tw - 1, th - 1);
      }
      if (sel >= 0 && T[sel][0] === k) {
        var t2 = T[sel];
        ctx.strokeStyle = '#000';
        ctx.lineWidth = 3;
        ctx.strokeRect(Math.min(t2[3], t2[5]) * sx, Math.min(t2[4], t2[6]) * sy,
          Math.abs(t2[5] - t2[3]) * sx, Math.abs(t2[4] - t2[6]) * sy);
      }
    };
    if (!s.overview) { paint(); return; }
    var img = overviewImg.get(k);
    if (!img) {
      img = new Image();
      img.src = 'data:image/jpeg;base64,' + s.overview;
      overviewImg.set(k, img);
    }
    var go = function () { ctx.drawImage(img, 0, 0, canvas.width, canvas.height); paint(); };
    if (img.complete) go(); else img.onload = function () { if (overviewScene() === k) drawOverview(); };
  }

  canvas.addEventListener('click', function (ev) {
    var k = overviewScene(), s = S[k];
    if (!s || !s.w) return;
    var r = canvas.getBoundingClientRect();
    var px = (ev.clientX - r.left) * s.w / r.width, py = (ev.clientY - r.top) * s.h / r.height;
    for (var i = 0; i < N; i++) {
      var t = T[i];
      if (t[0] === k && px >= Math.min(t[3], t[5]) && px < Math.max(t[3], t[5]) &&
          py >= Math.min(t[4], t[6]) && py < Math.max(t[4], t[6])) {
        select(i, true);
        return;
      }
    }
  });

  grid.addEventListener('click', function (ev) {
    var e = ev.target.closest('.cell');
    if (e) { select(+e.dataset.i, false); grid.focus(); }
  });
  grid.addEventListener('scroll', function () { window.requestAnimationFrame(render); });
  window.addEventListener('resize', layout);
  [sceneSel, clsSel, sortSel].forEach(function (s) {
    s.addEventListener('change', function () { applyFilters(); });
  });

  document.addEventListener('keydown', function (ev) {
    if (ev.target.tagName === 'SELECT' || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var k = slots.indexOf(sel), step = 0;
    if (/^[0-9]$/.test(ev.key)) {
      correct(sel, (+ev.key + 9) % 10);
    } else if (ev.key === 'Enter') {
      if (sel >= 0 && T[sel][7] >= 0) correct(sel, T[sel][7]);
    } else if (ev.key === 'u' || ev.key === 'U') {
      if (corr.delete(sel)) { $('ncorr').textContent = corr.size; redrawCell(sel); detail(); legend(); drawOverview(); }
    } else if (ev.key === 'ArrowRight') step = 1;
    else if (ev.key === 'ArrowLeft') step = -1;
    else if (ev.key === 'ArrowDown') step = perRow;
    else if (ev.key === 'ArrowUp') step = -perRow;
    else return;
    ev.preventDefault();
    if (step) {
      for (var j = k + step; j >= 0 && j < slots.length; j += step)
        if (slots[j] >= 0) { select(slots[j], true); break; }
      if (k < 0 && slots.length) select(slots.find(function (x) { return x >= 0; }), true);
    }
  });

  // The truth CSV: label's columns, as `geolabel truth` writes them, one row per reviewed tile.
  function csvField(s) {
    s = String(s);
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function exportCsv() {
    var lines = ['filename,row,col,left,upper,right,lower,classification_mode,description,' +
                 'classification_tree,classification,score'];
    Array.from(corr.keys()).sort(function (a, b) { return a - b; }).forEach(function (i) {
      var t = T[i], c = C[corr.get(i)];
      lines.push([S[t[0]].name, t[1], t[2], t[3], t[4], t[5], t[6], 'truth', '', c.tree, c.name, 1]
        .map(csvField).join(','));
    });
    return lines.join('\r\n') + '\r\n';
  }
  $('export').addEventListener('click', function () {
    var blob = new Blob([exportCsv()], {type: 'text/csv'}), a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = (DATA.labels.replace(/\.[^.]*$/, '') || 'labels') + '.truth.csv';
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(a.href); }, 1000);
  });

  window.geolabelReview = {exportCsv: exportCsv, correct: correct, select: select};
  fillControls();
  legend();
  applyFilters();
})();
