// The alarms' banner (/api/v1/operators/alarms): an alarm that starts shows one banner
// that stays while it is on; when it clears, one banner says so.  Neither is repeated.

import { api } from "./api.js";
import { $, el } from "./dom.js";

const EVERY_MS = 5000;
const CLEARED_KEPT_MS = 120000;

export function startBanners() {
  const box = $("#banners");
  const stop = new AbortController();
  let seen = null; // the last change id this page has taken in
  let timer = null;

  const activeBanner = (alarm, changes) => {
    const started = [...changes].reverse().find((c) => c.kind === alarm.kind && c.started);
    const text = started ? started.message : `Alarm on ${alarm.kind}.`;
    return el("div", { class: "banner", role: "alert", data: { alarm: alarm.kind } }, el("span", { text: text }));
  };

  const clearedBanner = (change) => {
    const banner = el(
      "div",
      { class: "banner cleared", role: "status", data: { cleared: change.kind } },
      el("span", { text: change.message }),
      el("button", { type: "button", text: "Dismiss", onclick: () => banner.remove() }),
    );
    setTimeout(() => banner.remove(), CLEARED_KEPT_MS);
    return banner;
  };

  const poll = async () => {
    let every = EVERY_MS;
    try {
      const answer = await api("/api/v1/operators/alarms", { signal: stop.signal });
      if (answer.interval_s) every = Math.max(1000, Math.min(answer.interval_s * 1000, EVERY_MS));
      const fresh = seen === null ? [] : answer.changes.filter((c) => c.id > seen);
      seen = answer.changes.reduce((top, c) => Math.max(top, c.id), seen ?? 0);
      for (const change of fresh) {
        if (change.started) continue; // an alarm on is shown from its state, below
        box.querySelector(`[data-alarm="${change.kind}"]`)?.remove();
        box.querySelector(`[data-cleared="${change.kind}"]`)?.remove();
        box.append(clearedBanner(change));
      }
      for (const alarm of answer.alarms) {
        const current = box.querySelector(`[data-alarm="${alarm.kind}"]`);
        if (alarm.active && !current) {
          box.querySelector(`[data-cleared="${alarm.kind}"]`)?.remove();
          box.prepend(activeBanner(alarm, answer.changes));
        }
        if (!alarm.active && current) current.remove();
      }
    } catch (error) {
      if (error.name === "AbortError") return;
      if (error.status === 401 || error.status === 403) return;
    }
    if (!stop.signal.aborted) timer = setTimeout(poll, every);
  };

  poll();
  return () => {
    clearTimeout(timer);
    stop.abort();
  };
}
