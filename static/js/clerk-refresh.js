// Lets ClerkJS renew the short-lived __session cookie, then reloads the page once.
window.addEventListener("load", async function () {
  const box = document.getElementById("clerk-refresh");
  const target = (box && box.dataset.target) || "/";
  try { if (window.Clerk) { await window.Clerk.load(); } } finally { window.location.replace(target); }
});
