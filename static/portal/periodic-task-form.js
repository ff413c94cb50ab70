// The staff console's periodic task form (django-celery-beat): shows the chosen crontab in
// words under the field. Its template had this inline; the CSP allows script files only.
(function ($) {
  "use strict";
  var readable = JSON.parse(document.getElementById("readable-crontabs").textContent);
  var help = $(".field-crontab .help");
  var original = help.text();
  $(".field-crontab_translation").hide();
  $(".field-crontab").change(function () {
    var words = readable[$("#id_crontab").val()];
    help.text(original).append("<br>", document.createTextNode("Translation: " + words));
  });
})(django.jQuery);
