#include "report/page_assets.h"

namespace closerlook {

const char* const kReportCss = R"CSS(
:root { --ink: #1d2330; --muted: #5b6474; --line: #d9dee7; --bg: #f5f7fa; --card: #fff; --accent: #2456a6; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.page { max-width: 1280px; margin: 0 auto; padding: 24px 28px 48px; }
header.top { background: #1d2a44; color: #fff; }
header.top .page { padding-top: 22px; padding-bottom: 18px; }
header.top h1 { margin: 0 0 4px; font-size: 24px; font-weight: 650; }
header.top .sub { margin: 0 0 12px; color: #c4cde0; }
table.meta { border-collapse: collapse; font-size: 13px; }
table.meta th { text-align: left; font-weight: 500; color: #aeb9d0; padding: 1px 16px 1px 0; }
table.meta td { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; padding: 1px 0; color: #fff; }
#cl-errors { background: #fff0f0; color: #9b1c1c; border: 1px solid #e7a1a1; padding: 10px 14px;
             white-space: pre-wrap; font-size: 13px; margin: 0 0 18px; }
nav.toc { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 20px; margin-bottom: 22px; }
nav.toc h2 { font-size: 15px; margin: 0 0 6px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); }
nav.toc ol { margin: 0; padding-left: 22px; }
nav.toc ol ol { columns: 2; column-gap: 32px; font-size: 14px; padding-left: 18px; margin-bottom: 4px; }
nav.toc li { break-inside: avoid; }
section.study { margin-top: 34px; }
section.study > h2, section#claims > h2 { font-size: 21px; margin: 0 0 6px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
p.lead { color: var(--muted); margin: 4px 0 14px; max-width: 900px; }
.figgrid { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
figure.fig { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px 10px; min-width: 0; }
figure.fig.full { grid-column: 1 / -1; }
figure.fig h3 { font-size: 15px; margin: 4px 4px 8px; }
figcaption { font-size: 13.5px; color: #384152; margin: 6px 6px 0; }
figcaption .files { color: var(--muted); white-space: nowrap; }
figcaption .files a { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12px; }
.plot { width: 100%; }
table.data, table.claims { border-collapse: collapse; width: 100%; font-size: 13.5px; background: var(--card); }
table.data th, table.data td, table.claims th, table.claims td { border-bottom: 1px solid var(--line); padding: 5px 9px; text-align: left; vertical-align: top; }
table.data th, table.claims th { background: #eef1f6; font-weight: 600; }
table.data th.num { text-align: right; }
table.data td.num { text-align: right; font-variant-numeric: tabular-nums; font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12.5px; }
.claims-wrap { border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
.verdict { display: inline-block; padding: 1px 9px; border-radius: 10px; font-weight: 600; font-size: 12.5px; white-space: nowrap; }
.verdict.held { background: #d9f2df; color: #17622c; border: 1px solid #9fd5ac; }
.verdict.not-held { background: #fde0e0; color: #9b1c1c; border: 1px solid #efa8a8; }
.verdict.inconclusive { background: #fff1cc; color: #7a5800; border: 1px solid #f0d27a; }
.tally { margin: 6px 0 12px; }
.tally .verdict { margin-right: 6px; }
td.estimate, td.control { white-space: nowrap; font-variant-numeric: tabular-nums; }
.forest-wrap { overflow-x: auto; }
svg.forest { max-width: 100%; height: auto; font-family: inherit; }
ul.numbers li { white-space: nowrap; }
ul.numbers { list-style: none; margin: 0; padding: 0; font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12.5px; }
td.detail { color: #384152; max-width: 380px; }
.empty { color: var(--muted); font-style: italic; }
footer { color: var(--muted); font-size: 12.5px; margin-top: 40px; border-top: 1px solid var(--line); padding-top: 10px; }
@media (max-width: 900px) { .figgrid { grid-template-columns: 1fr; } nav.toc ol ol { columns: 1; } }
@media print { .figgrid { display: block; } figure.fig { break-inside: avoid; margin-bottom: 12px; } }
)CSS";

const char* const kReportErrorHooksJs = R"JS(
(function () {
  'use strict';
  var pending = [];
  function record(msg) {
    var box = document.getElementById('cl-errors');
    if (!box) { pending.push(msg); return; }
    box.hidden = false;
    box.textContent += msg + '\n';
    var root = document.documentElement;
    root.setAttribute('data-errors', String((+root.getAttribute('data-errors') || 0) + 1));
  }
  window.clRecordError = record;
  document.addEventListener('DOMContentLoaded', function () { pending.splice(0).forEach(record); });
  window.addEventListener('error', function (e) {
    record('error: ' + (e.message || e) + (e.filename ? ' (' + e.filename + ':' + e.lineno + ')' : ''));
  });
  window.addEventListener('unhandledrejection', function (e) {
    var r = e.reason;
    record('unhandled promise rejection: ' + ((r && r.stack) || r));
  });
  ['error', 'warn'].forEach(function (level) {
    var original = console[level];
    console[level] = function () {
      record('console.' + level + ': ' + Array.prototype.map.call(arguments, String).join(' '));
      return original.apply(console, arguments);
    };
  });
})();
)JS";

const char* const kReportRenderJs = R"JS(
(function () {
  'use strict';
  var body = document.body;
  var record = window.clRecordError || function (m) { console.error(m); };
  if (typeof Plotly === 'undefined') {
    record('plotly.js did not load: the report cannot draw its figures');
    body.setAttribute('data-render-done', 'failed');
    return;
  }
  var figures = JSON.parse(document.getElementById('cl-figure-data').textContent);
  var PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
  // Marker colours that stay visible on every part of the viridis scale.
  var OVERLAY_ON_MAP = ['#ff2d55', '#ffffff', '#00e5ff', '#ff9500', '#c6ff00', '#000000'];
  var DIVERGING = [[0, '#053061'], [0.1, '#2166ac'], [0.2, '#4393c3'], [0.3, '#92c5de'], [0.4, '#d1e5f0'],
                   [0.5, '#f7f7f7'], [0.6, '#fddbc7'], [0.7, '#f4a582'], [0.8, '#d6604d'], [0.9, '#b2182b'], [1, '#67001f']];
  var FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';

  // Plotly reads a small HTML subset in titles and hover text: escape what came from the spec.
  function esc(s) { return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'); }
  function title(a) { return a.unit ? a.label + ' (' + a.unit + ')' : a.label; }
  function names(a) { return a.categories || a.values; }
  function fmt(v) {
    var a = Math.abs(v);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(0).replace('e+', 'e');
    return String(Number(v.toPrecision(3)));
  }

  function axisLayout(a) {
    var l = { title: { text: esc(title(a)) }, automargin: true, zeroline: false, showline: true,
              linecolor: '#9aa3b2', gridcolor: '#e6e9ef', ticks: 'outside', tickcolor: '#9aa3b2' };
    if (a.log) l.type = 'log';
    if (a.categories) l.type = 'category';
    if (a.reversed) l.autorange = 'reversed';
    return l;
  }

  // Splits a title into lines that fit `width` px (plotly does not wrap titles).
  function wrapTitle(text, width) {
    var maxChars = Math.max(20, Math.floor((width - 16) / 8.3));
    var lines = [], line = '';
    text.split(' ').forEach(function (w) {
      if (line && (line + ' ' + w).length > maxChars) { lines.push(line); line = w; }
      else line = line ? line + ' ' + w : w;
    });
    if (line) lines.push(line);
    return lines;
  }

  // The title sits below the modebar (which owns the top 28 px), so the two never overlap, and
  // stays inside the figure so a PNG saved from the modebar says what it shows.
  function baseLayout(f, height, el) {
    var lines = wrapTitle(f.title, el.clientWidth || 600);
    var h = (f.layout && f.layout.height) || height;
    var layout = {
      title: { text: lines.map(function (l) { return '<b>' + esc(l) + '</b>'; }).join('<br>'),
               x: 0.005, xanchor: 'left', yref: 'container', y: 1 - 30 / h, yanchor: 'top', font: { size: 15 } },
      height: h,
      margin: { l: 64, r: 24, t: 44 + 20 * lines.length, b: 56 },
      hovermode: 'closest',
      font: { family: FONT, size: 12, color: '#1d2330' },
      paper_bgcolor: '#ffffff', plot_bgcolor: '#ffffff',
      legend: { bgcolor: 'rgba(255,255,255,0.85)', bordercolor: '#d9dee7', borderwidth: 1 },
      shapes: [], annotations: [],
      xaxis: axisLayout(f.x), yaxis: axisLayout(f.y)
    };
    if (f.layout && f.layout.equal_aspect) { layout.yaxis.scaleanchor = 'x'; layout.yaxis.scaleratio = 1; }
    return layout;
  }

  // Log colour scales: plot log10(value), label the colour bar with the values themselves.
  function log10Matrix(m) {
    return m.map(function (row) {
      return row.map(function (v) { return (v === null || !(v > 0)) ? null : Math.log10(v); });
    });
  }
  function matrixRange(m) {
    var lo = Infinity, hi = -Infinity;
    m.forEach(function (row) { row.forEach(function (v) { if (v !== null && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }); });
    return [lo, hi];
  }
  function logColorbar(lo, hi) {
    var vals = [], text = [];
    if (!(hi > lo)) return {};
    var mults = (hi - lo) <= 2.5 ? [1, 2, 5] : [1];
    for (var k = Math.floor(lo); k <= Math.ceil(hi); k++) {
      mults.forEach(function (m) {
        var v = Math.log10(m) + k;
        if (v >= lo - 1e-9 && v <= hi + 1e-9) { vals.push(v); text.push(fmt(m * Math.pow(10, k))); }
      });
    }
    if (vals.length < 2) {
      vals = [lo, (lo + hi) / 2, hi];
      text = vals.map(function (v) { return fmt(Math.pow(10, v)); });
    }
    return { tickvals: vals, ticktext: text };
  }

  function hoverAxes(f, xfmt, yfmt) {
    return esc(title(f.x)) + ': %{x' + xfmt + '}<br>' + esc(title(f.y)) + ': %{y' + yfmt + '}';
  }

  function addOverlays(f, data, layout, onMap) {
    var o = f.overlays || {};
    var colors = onMap ? OVERLAY_ON_MAP : PALETTE;
    var used = onMap ? 0 : data.length;
    (o.curves || []).forEach(function (c) {
      var color = c.color || colors[used++ % colors.length];
      data.push({ type: 'scatter', mode: 'lines', name: esc(c.name), x: c.x, y: c.y,
                  line: { color: color, width: 2.5, dash: c.dash || 'solid' },
                  hovertemplate: '<b>' + esc(c.name) + '</b><br>' + hoverAxes(f, ':.4g', ':.4g') + '<extra></extra>' });
    });
    (o.points || []).forEach(function (p) {
      var color = p.color || colors[used++ % colors.length];
      var labels = p.labels ? p.labels.map(esc) : null;
      var showText = labels && p.show_labels !== false;
      data.push({ type: 'scatter', name: esc(p.name), x: p.x, y: p.y,
                  mode: (p.connect ? 'lines+' : '') + 'markers' + (showText ? '+text' : ''),
                  text: labels || undefined, textposition: 'top center',
                  textfont: { size: 12, color: '#111111', shadow: '0px 0px 3px #ffffff' },
                  marker: { symbol: p.symbol || 'circle', size: 10, color: color, line: { color: onMap ? '#000000' : '#ffffff', width: 1.5 } },
                  line: { color: color, width: 1.5, dash: 'dot' },
                  hovertemplate: '<b>' + esc(p.name) + '</b>' + (labels ? ' %{text}' : '') + '<br>' +
                                 hoverAxes(f, ':.4g', ':.4g') + '<extra></extra>' });
    });
    function refLine(r, vertical) {
      layout.shapes.push(vertical
        ? { type: 'line', xref: 'x', yref: 'paper', x0: r.at, x1: r.at, y0: 0, y1: 1, line: { color: '#6b7280', width: 1, dash: 'dash' } }
        : { type: 'line', xref: 'paper', yref: 'y', x0: 0, x1: 1, y0: r.at, y1: r.at, line: { color: '#6b7280', width: 1, dash: 'dash' } });
      if (r.label) layout.annotations.push(vertical
        ? { xref: 'x', yref: 'paper', x: r.at, y: 1, text: esc(r.label), showarrow: false, textangle: -90, xanchor: 'right', yanchor: 'top', font: { size: 11, color: '#4b5563' } }
        : { xref: 'paper', yref: 'y', x: 1, y: r.at, text: esc(r.label), showarrow: false, xanchor: 'right', yanchor: 'bottom', font: { size: 11, color: '#4b5563' } });
    }
    (o.vlines || []).forEach(function (r) { refLine(r, true); });
    (o.hlines || []).forEach(function (r) { refLine(r, false); });
  }

  // A horizontal legend along the bottom edge of the figure, with room reserved for its rows
  // (about 190 px an entry).
  function legendAtBottom(layout, entries, el) {
    var perRow = Math.max(1, Math.floor(((el.clientWidth || 600) - 40) / 190));
    layout.legend.orientation = 'h';
    layout.legend.x = 0; layout.legend.xanchor = 'left';
    layout.legend.yref = 'container'; layout.legend.y = 0; layout.legend.yanchor = 'bottom';
    layout.margin.b += 8 + 22 * Math.ceil(entries / perRow);
  }

  function lineFigure(f, el) {
    var layout = baseLayout(f, 420, el);
    var xs = f.x.categories ? function (x) { return x.map(function (i) { return f.x.categories[i]; }); } : function (x) { return x; };
    var xfmt = f.x.categories ? '' : ':.6g';
    var data = f.series.map(function (s, i) {
      var y2 = s.axis === 'y2';
      var color = s.color || PALETTE[i % PALETTE.length];
      return { type: 'scatter', mode: s.mode || 'lines', name: esc(s.name), x: xs(s.x), y: s.y, yaxis: y2 ? 'y2' : 'y',
               legendgroup: s.group || undefined, connectgaps: false,
               line: { color: color, width: 2, dash: s.dash || 'solid' }, marker: { color: color, size: 6 },
               hovertemplate: '<b>' + esc(s.name) + '</b><br>' + esc(title(f.x)) + ': %{x' + xfmt + '}<br>' +
                              esc(title(y2 ? f.y2 : f.y)) + ': %{y:.6g}<extra></extra>' };
    });
    if (f.y2) {
      layout.yaxis2 = axisLayout(f.y2);
      layout.yaxis2.overlaying = 'y';
      layout.yaxis2.side = 'right';
      layout.yaxis2.showgrid = false;
      layout.yaxis2.tickmode = 'auto';  // its own ticks, not the left axis's positions
    }
    // Log axes: label decades only when the data span many of them (no 2..9 clutter).
    [['yaxis', 'y', f.y], ['yaxis2', 'y2', f.y2], ['xaxis', 'x', f.x]].forEach(function (a) {
      if (!a[2] || !a[2].log) return;
      var lo = Infinity, hi = -Infinity;
      f.series.forEach(function (s) {
        if (a[1] !== 'x' && (s.axis || 'y') !== a[1]) return;
        (a[1] === 'x' ? s.x : s.y).forEach(function (v) { if (v > 0) { lo = Math.min(lo, v); hi = Math.max(hi, v); } });
      });
      var decades = Math.log10(hi / lo);
      layout[a[0]].exponentformat = 'power';
      if (decades >= 3) layout[a[0]].dtick = 1;
      else if (decades >= 1) layout[a[0]].dtick = 'D2';
    });
    addOverlays(f, data, layout, false);
    if ((el.clientWidth || 800) < 760) {
      legendAtBottom(layout, data.length, el);  // a narrow (half-width) figure keeps its width for the plot
    } else {
      // Legend to the right of the plot (past the second axis, if there is one).
      layout.legend.x = f.y2 ? 1.1 : 1.02;
      layout.legend.xanchor = 'left';
      layout.legend.y = 1;
    }
    return { data: data, layout: layout };
  }

  function colourTrace(f, type) {
    var z = f.z, raw = f.matrix;
    var plotted = z.log ? log10Matrix(raw) : raw;
    var ztitle = esc(title(z)) + (z.log ? ' [log scale]' : '');
    var t = { type: type, x: names(f.x), y: names(f.y), z: plotted, customdata: raw,
              colorscale: z.scale === 'diverging' ? DIVERGING : 'Viridis',
              colorbar: { title: { text: ztitle, side: 'right' }, thickness: 14, outlinewidth: 0 },
              hoverongaps: false,
              hovertemplate: hoverAxes(f, f.x.categories ? '' : ':.6g', f.y.categories ? '' : ':.6g') +
                             '<br><b>' + esc(title(z)) + ': %{customdata:.6g}</b><extra></extra>' };
    var range = matrixRange(plotted);
    if (z.log) {
      var lo = z.min !== undefined && z.min > 0 ? Math.log10(z.min) : range[0];
      var hi = z.max !== undefined && z.max > 0 ? Math.log10(z.max) : range[1];
      t.zmin = lo; t.zmax = hi;
      Object.assign(t.colorbar, logColorbar(lo, hi));
    } else if (z.scale === 'diverging') {
      var m = Math.max(Math.abs(range[0]), Math.abs(range[1])) || 1;
      t.zmin = z.min !== undefined ? z.min : -m;
      t.zmax = z.max !== undefined ? z.max : m;
      t.zmid = 0;
    } else {
      if (z.min !== undefined) t.zmin = z.min;
      if (z.max !== undefined) t.zmax = z.max;
    }
    return t;
  }

  function heatmapFigure(f, el) {
    var nx = names(f.x).length, ny = names(f.y).length;
    var layout = baseLayout(f, Math.min(780, Math.max(400, 150 + 22 * ny)), el);
    var t = colourTrace(f, 'heatmap');
    t.xgap = nx <= 40 ? 1 : 0;
    t.ygap = ny <= 40 ? 1 : 0;
    if (f.z.show_values) {
      // One number of decimals for the whole matrix (3 significant digits of its largest entry).
      var r = matrixRange(f.matrix), big = Math.max(Math.abs(r[0]), Math.abs(r[1])) || 1;
      var decimals = Math.min(8, Math.max(0, 2 - Math.floor(Math.log10(big))));
      t.text = f.matrix.map(function (row) { return row.map(function (v) { return v === null ? '' : v.toFixed(decimals); }); });
      t.texttemplate = '%{text}';
      t.textfont = { size: 10 };
    }
    layout.xaxis.showgrid = false; layout.yaxis.showgrid = false;
    layout.xaxis.showline = false; layout.yaxis.showline = false;
    return { data: [t], layout: layout };
  }

  function contourFigure(f, el) {
    var layout = baseLayout(f, 500, el);
    var t = colourTrace(f, 'contour');
    t.contours = { coloring: 'fill', showlines: true };
    t.ncontours = 24;
    t.line = { width: 0.6, color: 'rgba(0,0,0,0.35)', smoothing: 0.85 };
    var data = [t];
    addOverlays(f, data, layout, true);
    layout.xaxis.showgrid = false; layout.yaxis.showgrid = false;
    layout.xaxis.range = [f.x.values[0], f.x.values[f.x.values.length - 1]];
    layout.yaxis.range = [f.y.values[0], f.y.values[f.y.values.length - 1]];
    // Legend along the bottom edge: the colour bar holds the right-hand side, and above the plot
    // it would cover the map.
    if (data.length > 1) legendAtBottom(layout, data.length - 1, el);
    // Equal scales shrink the plot area rather than widen the axis past the grid.
    if (f.layout && f.layout.equal_aspect) layout.xaxis.constrain = layout.yaxis.constrain = 'domain';
    return { data: data, layout: layout };
  }

  var builders = { line: lineFigure, heatmap: heatmapFigure, contour: contourFigure };
  var jobs = [];
  figures.forEach(function (f) {
    var el = document.getElementById('plot-' + f.id);
    if (!el) { record('figure ' + f.id + ': no element on the page'); return; }
    try {
      var spec = builders[f.kind](f, el);
      var config = { responsive: true, displaylogo: false, // No cloud-sharing button: the report is offline.
                     modeBarButtonsToRemove: ['select2d', 'lasso2d', 'sendChartToCloud'], showSendToCloud: false,
                     toImageButtonOptions: { format: 'png', filename: f.id, scale: 2 } };
      jobs.push(Plotly.newPlot(el, spec.data, spec.layout, config).catch(function (e) {
        record('figure ' + f.id + ': ' + ((e && e.stack) || e));
        throw e;
      }));
    } catch (e) {
      record('figure ' + f.id + ': ' + ((e && e.stack) || e));
    }
  });
  Promise.all(jobs).then(function () {
    body.setAttribute('data-plots-rendered', String(document.querySelectorAll('.js-plotly-plot').length));
    body.setAttribute('data-render-done', jobs.length === figures.length ? '1' : 'failed');
  }, function () {
    body.setAttribute('data-render-done', 'failed');
  });
})();
)JS";

}  // namespace closerlook
