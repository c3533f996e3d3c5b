// The printable score summary's print button (a file, not an inline handler: the
// pages' Content-Security-Policy allows scripts from this origin only).
document.querySelector("[data-print]")?.addEventListener("click", () => window.print());
