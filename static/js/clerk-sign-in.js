// Mounts Clerk's sign-in component; kept out of the page so the CSP needs no inline script.
window.addEventListener("load", async function () {
  const target = document.getElementById("clerk-sign-in");
  if (!target || !window.Clerk) return;
  await window.Clerk.load();
  const next = target.dataset.afterSignIn || "/";
  if (window.Clerk.user) { window.location.assign(next); return; }
  target.innerHTML = "";
  window.Clerk.mountSignIn(target, { forceRedirectUrl: next, signUpForceRedirectUrl: next });
});
