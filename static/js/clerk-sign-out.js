// Ends the Clerk session (which also clears __session), then returns to the catalog.
window.addEventListener("load", async function () {
  const box = document.getElementById("clerk-sign-out");
  const target = (box && box.dataset.target) || "/";
  try { if (window.Clerk) { await window.Clerk.load(); await window.Clerk.signOut(); } } finally { window.location.replace(target); }
});
