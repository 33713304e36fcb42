/**
 * Browser code: value formatting and the line charts (canvas), exposed as the global `EP`
 * for the app script. Written as plain JS in a string because `tsc` copies no asset files
 * and the page needs no bundler; it must contain no backtick and no dollar-brace.
 *
 * A chart is a <figure data-format> holding a <b class="v" data-key> per line (not <output>:
 * its implicit live region would read every value out each second) and a <canvas>; it
 * keeps at most `capacity` seconds of points, sorted by time, and draws them time-based, so
 * a gap (lost connection) shows as a break, not as a squeezed line.
 */
export const DASHBOARD_CHARTS_SCRIPT = String.raw`
var EP = (function () {
  'use strict';
  var UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];

  function fmt(format, v) {
    if (v === null || v === undefined || !isFinite(v)) return '–';
    if (format === 'ratio') return (v * 100).toFixed(1) + ' %';
    if (format === 'bytes') {
      var i = 0;
      while (v >= 1000 && i < UNITS.length - 1) { v /= 1000; i++; }
      return (i > 0 && v < 10 ? v.toFixed(1) : String(Math.round(v))) + ' ' + UNITS[i] + '/s';
    }
    var n = v < 10 ? v.toFixed(1) : String(Math.round(v));
    return format === 'ms' ? n + ' ms' : n + '/s';
  }

  /** 1, 2 or 5 times a power of ten, at least v: gridline values people can read. */
  function niceCeil(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
    return 10 * p;
  }

  function Chart(figure, capacitySeconds) {
    this.figure = figure;
    this.format = figure.dataset.format;
    this.canvas = figure.querySelector('canvas');
    this.outputs = Array.prototype.slice.call(figure.querySelectorAll('.v'));
    this.keys = this.outputs.map(function (o) { return o.dataset.key; });
    this.title = figure.querySelector('figcaption').textContent;
    this.capacity = capacitySeconds;
    this.points = [];
  }

  Chart.prototype.reset = function () { this.points = []; };

  /** Adds (or replaces) the point at time t (ms) with the stats' values for this chart's keys. */
  Chart.prototype.put = function (t, stats) {
    var p = { t: t, v: this.keys.map(function (k) { var x = stats[k]; return typeof x === 'number' ? x : null; }) };
    var pts = this.points;
    var i = pts.length;
    while (i > 0 && pts[i - 1].t > t) i--;
    if (i > 0 && pts[i - 1].t === t) pts[i - 1] = p;
    else pts.splice(i, 0, p);
    var oldest = pts[pts.length - 1].t - this.capacity * 1000;
    var drop = 0;
    while (drop < pts.length && pts[drop].t <= oldest) drop++;
    if (drop > 0) pts.splice(0, drop);
  };

  Chart.prototype.render = function () {
    var self = this;
    var last = this.points[this.points.length - 1];
    var peak = null;
    this.points.forEach(function (p) { p.v.forEach(function (x) { if (x !== null && (peak === null || x > peak)) peak = x; }); });
    this.outputs.forEach(function (o, i) {
      var v = last ? last.v[i] : null;
      o.textContent = fmt(self.format, v);
      o.dataset.value = v === null ? '' : String(v);
    });
    this.figure.dataset.points = String(this.points.length);
    this.figure.dataset.lastAt = last ? new Date(last.t).toISOString() : '';
    this.figure.dataset.peak = peak === null ? '' : String(peak);
    var now = this.outputs.map(function (o, i) { return (self.keys.length > 1 ? self.keys[i] + ' ' : '') + o.textContent; }).join(', ');
    this.canvas.setAttribute('aria-label', last
      ? this.title + ' over the last ' + Math.round(this.capacity / 60) + ' minutes: now ' + now + ', peak ' + fmt(this.format, peak)
      : this.title + ': no data yet');
    this.draw(peak);
  };

  Chart.prototype.draw = function (peak) {
    var c = this.canvas;
    var dpr = window.devicePixelRatio || 1;
    var w = c.clientWidth, h = c.clientHeight;
    if (w === 0 || h === 0) return;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    var ctx = c.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    var css = getComputedStyle(document.documentElement);
    var top = this.format === 'ratio' ? 1 : niceCeil(peak === null ? 0 : peak);
    var pad = 14;
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = css.getPropertyValue('--muted');
    ctx.strokeStyle = css.getPropertyValue('--line');
    ctx.lineWidth = 1;
    [0, 0.5, 1].forEach(function (f) {
      var y = Math.round(pad + (h - 2 * pad) * (1 - f)) + 0.5;
      ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(w, y); ctx.stroke();
      if (f > 0) ctx.fillText(fmt(this.format, top * f), 4, y - 3);
    }, this);
    var pts = this.points;
    if (pts.length === 0) return;
    var end = pts[pts.length - 1].t;
    var span = this.capacity * 1000;
    var x = function (t) { return w - ((end - t) / span) * w; };
    var y = function (v) { return pad + (h - 2 * pad) * (1 - Math.min(v, top) / top); };
    ctx.lineWidth = 1.5;
    // A missing value or a gap of more than two seconds breaks the line; a lone point is a dot.
    var joined = function (i, s) { return i > 0 && pts[i - 1].v[s] !== null && pts[i].t - pts[i - 1].t <= 2000; };
    for (var s = 0; s < this.keys.length; s++) {
      ctx.strokeStyle = ctx.fillStyle = css.getPropertyValue('--s' + s);
      ctx.beginPath();
      for (var i = 0; i < pts.length; i++) {
        var v = pts[i].v[s];
        if (v === null) continue;
        if (joined(i, s)) ctx.lineTo(x(pts[i].t), y(v));
        else ctx.moveTo(x(pts[i].t), y(v));
        if (!joined(i, s) && !(i + 1 < pts.length && pts[i + 1].v[s] !== null && joined(i + 1, s))) ctx.fillRect(x(pts[i].t) - 2, y(v) - 2, 4, 4);
      }
      ctx.stroke();
    }
  };

  return { fmt: fmt, Chart: Chart };
})();
`;
