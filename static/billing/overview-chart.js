// The overview's spend by day, this month against last month (Apache ECharts, vendored).
// Data: json_script "overview-data" (billing.overview.selectors._spend_by_day).
(function () {
  var element = document.getElementById("overview-chart");
  var source = document.getElementById("overview-data");
  if (!element || !source || !window.echarts) return;
  var data = JSON.parse(source.textContent);
  var chart = window.echarts.init(element);
  chart.setOption({
    // Drawn on the canvas: the HTML tooltip carries style attributes the CSP refuses.
    tooltip: { trigger: "axis", renderMode: "richText" },
    legend: { bottom: 0 },
    grid: { left: 8, right: 8, top: 16, bottom: 40, containLabel: true },
    xAxis: { type: "category", data: data.days },
    yAxis: { type: "value", name: data.currency },
    series: [
      { name: data.labels.last_month, type: "line", data: data.last_month, lineStyle: { type: "dashed" } },
      { name: data.labels.this_month, type: "bar", data: data.this_month }
    ]
  });
  window.addEventListener("resize", function () { chart.resize(); });
})();
