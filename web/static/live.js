// The device list keeps itself current while a device on it is still
// changing (data-waiting: approved, waiting for its first certificate):
// every 2 s, for at most two minutes, it fetches the page again and swaps
// in the new list. Without JavaScript, reloading does the same.
(() => {
  "use strict";
  const list = document.querySelector("[data-live]");
  if (!list) return;
  let tries = 0;
  const tick = async () => {
    if (!list.querySelector("[data-waiting]") || ++tries > 60) return;
    try {
      const resp = await fetch(location.pathname, { credentials: "same-origin" });
      if (resp.ok) {
        const page = new DOMParser().parseFromString(await resp.text(), "text/html");
        const fresh = page.querySelector("[data-live]");
        if (fresh && fresh.innerHTML !== list.innerHTML) list.innerHTML = fresh.innerHTML;
      }
    } catch (e) {
      // The issuer restarting, or the network: try again at the next tick.
    }
    setTimeout(tick, 2000);
  };
  setTimeout(tick, 2000);
})();
