/* The usage chart (portal/usage_views.py builds the data; templates/portal/usage.html embeds it as JSON).
   uPlot (vendor/uplot) draws bars of kWh used per day, hour, quarter-hour or month, the same period a
   year earlier as a dashed line, and energy returned to the grid for solar members. Axes carry units;
   the chart is a picture of the table that follows it, which screen readers use instead. */
(function () {
  "use strict";
  var source = document.getElementById("usage-data");
  var box = document.getElementById("usage-chart");
  if (!source || !box || typeof uPlot === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var narrow = function () { return box.clientWidth < 600; };
  var height = function () { return narrow() ? 280 : 340; };

  var series = [
    {},
    {
      label: "Used (kWh)",
      stroke: "#005ea2",
      fill: "rgba(0, 94, 162, 0.55)",
      width: 1,
      paths: uPlot.paths.bars({ size: [0.75, 48] }),
      points: { show: false },
      value: function (u, v) { return v == null ? "–" : v.toFixed(2) + " kWh"; }
    }
  ];
  var columns = [data.x, data.used];
  if (data.last_year && data.last_year.some(function (v) { return v !== null; })) {
    series.push({
      label: "Same period last year (kWh)",
      stroke: "#b50909",
      width: 2,
      dash: [6, 4],
      points: { show: false },
      value: function (u, v) { return v == null ? "–" : v.toFixed(2) + " kWh"; }
    });
    columns.push(data.last_year);
  }
  if (data.returned) {
    series.push({
      label: "Returned to the grid (kWh)",
      stroke: "#4d8055",
      width: 2,
      points: { show: false },
      value: function (u, v) { return v == null ? "–" : v.toFixed(2) + " kWh"; }
    });
    columns.push(data.returned);
  }

  var half = data.step_seconds / 2;
  var options = {
    width: box.clientWidth,
    height: height(),
    tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), data.tz); },
    scales: {
      x: { time: true, range: function (u, min, max) { return [min - half, max + half]; } },
      y: { range: function (u, min, max) { return [0, Math.max(max, 0.1) * 1.1]; } }
    },
    axes: [
      { label: data.x_label, labelSize: 24, stroke: "#1b1b1b", grid: { show: false } },
      {
        label: "Energy used (kWh)",
        labelSize: 24,
        size: 56,
        stroke: "#1b1b1b",
        grid: { stroke: "#dfe1e2" },
        values: function (u, ticks) { return ticks.map(function (v) { return v.toFixed(v < 1 ? 2 : v < 10 ? 1 : 0); }); }
      }
    ],
    legend: { live: !narrow() },
    cursor: { drag: { x: false, y: false } },
    series: series
  };
  var chart = new uPlot(options, columns, box);
  if (typeof ResizeObserver !== "undefined") {
    new ResizeObserver(function () {
      chart.setSize({ width: box.clientWidth, height: height() });
    }).observe(box);
  }
})();
