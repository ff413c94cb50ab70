// The quickstart's model picker: every example follows the chosen model, without a reload
// (the page shown once after creation cannot be loaded again).
for (const picker of document.querySelectorAll("select[data-quickstart-model]")) {
  const section = picker.closest("section");
  for (const button of section.querySelectorAll("[data-without-script]")) button.hidden = true;
  picker.addEventListener("change", () => {
    for (const name of section.querySelectorAll(".qs-model")) name.textContent = picker.value;
  });
}
