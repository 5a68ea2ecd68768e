/* Runs before the page paints (loaded without defer): lets the CSS tell a scripted page from one without JS. */
document.documentElement.classList.add("js");
