// Draws the overview's charts from the JSON the page carries; the tables under
// each chart hold the same figures for readers without scripts.
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || typeof echarts === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var colours = ["#0b57a4", "#3a8a4f", "#e07b00", "#a3171e"];
  var charts = [];
  document.querySelectorAll("[data-chart]").forEach(function (node) {
    var spec = data[node.getAttribute("data-chart")];
    if (!spec) { return; }
    var chart = echarts.init(node, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      color: colours,
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 8, right: 40, bottom: 8, top: 32, containLabel: true },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", data: spec.categories, inverse: true },
      series: spec.series.map(function (s) {
        return {
          name: s.name, type: "bar", data: s.data,
          stack: spec.stacked ? "total" : undefined,
          label: { show: !spec.stacked, position: "right" }
        };
      })
    });
    charts.push(chart);
  });
  // Charts follow their box: a phone turned sideways, a window made narrower.
  var follow = function () { charts.forEach(function (chart) { chart.resize(); }); };
  if (typeof ResizeObserver !== "undefined") {
    var observer = new ResizeObserver(follow);
    document.querySelectorAll("[data-chart]").forEach(function (node) { observer.observe(node); });
  } else {
    window.addEventListener("resize", follow);
  }
})();
