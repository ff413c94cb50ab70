// The payment page asks for its status every 3 s while the payment is open and reloads
// once it changes (paid, closed ...): <section data-poll="url" data-status="pending">.
const section = document.querySelector("[data-poll]");
if (section) {
  const poll = async () => {
    try {
      const response = await fetch(section.dataset.poll, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const answer = await response.json();
        if (answer.status !== section.dataset.status) {
          window.location.reload();
          return;
        }
      }
    } catch (error) {
      // offline for a moment: try again
    }
    setTimeout(poll, 3000);
  };
  setTimeout(poll, 3000);
}
