// The dashboard's stacked daily chart (Apache ECharts, vendored). Data: json_script "usage-data".
(function () {
  var element = document.getElementById("usage-chart");
  var source = document.getElementById("usage-data");
  if (!element || !source || !window.echarts) return;
  var data = JSON.parse(source.textContent);
  var chart = window.echarts.init(element);
  function draw(metric) {
    chart.setOption({
      // Drawn on the canvas: the HTML tooltip carries style attributes the CSP refuses.
      tooltip: { trigger: "axis", renderMode: "richText" },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 8, right: 8, top: 16, bottom: 40, containLabel: true },
      xAxis: { type: "category", data: data.days },
      yAxis: { type: "value" },
      series: data.series.map(function (line) {
        return { name: line.name, type: "bar", stack: "total", data: line[metric] };
      })
    }, true);
  }
  document.querySelectorAll('input[name="metric"]').forEach(function (input) {
    input.addEventListener("change", function () { draw(input.value); });
  });
  window.addEventListener("resize", function () { chart.resize(); });
  draw("tokens");
})();
