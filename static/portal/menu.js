// The phone menu: the button in the top bar shows and hides the side navigation. Without this
// file the navigation simply stays open above the page (the CSS hides it only under .has-menu).
const button = document.querySelector(".menu-button");
const sidenav = document.getElementById("sidenav");
if (button && sidenav) {
  const setOpen = (open) => {
    button.setAttribute("aria-expanded", String(open));
    sidenav.classList.toggle("open", open);
  };
  document.documentElement.classList.add("has-menu");
  button.hidden = false;
  button.addEventListener("click", () => setOpen(button.getAttribute("aria-expanded") !== "true"));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && sidenav.classList.contains("open")) {
      setOpen(false);
      button.focus();
    }
  });
}
