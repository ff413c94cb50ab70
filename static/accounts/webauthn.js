// Security key pages (templates/mfa/webauthn/snippets/failure.html): when the browser's key
// dialog fails or is cancelled, allauth's webauthn.js sends an "allauth.error" event; say so on
// the page in the page's language instead of only in the console.
document.addEventListener("allauth.error", (event) => {
  const box = document.getElementById("webauthn-failure");
  if (!box) return;
  event.preventDefault();
  box.textContent = box.dataset.message;
  box.hidden = false;
});
