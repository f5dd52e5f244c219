// Shared by the desk and supervisor pages: the server's clock, the event
// stream, JSON requests, and refusal codes in words.
"use strict";

const Desk = (() => {
  const root = document.documentElement.dataset.root || "/";
  let offsetMs = 0; // the server's clock minus this browser's

  // Every message carries the server's instant: the countdowns run on the
  // server's clock, re-synced on each message, so they never drift.
  function sync(serverInstant) {
    const at = Date.parse(serverInstant);
    if (!Number.isNaN(at)) offsetMs = at - Date.now();
  }

  function serverNow() {
    return Date.now() + offsetMs;
  }

  function commandId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  const REASONS = {
    no_extensions_left: "No extensions left",
    no_countdown: "There is no countdown to extend",
    early_exit_not_allowed: "This queue does not allow ending wrap-up early",
    classification_required: "Classify the chat first",
    already_flagged_abusive: "Already flagged as abusive",
    not_allowed_in_phase: "Not possible at this stage of the chat",
    pause_not_allowed: "This queue does not allow pausing wrap-up",
    wrap_up_over: "The wrap-up is already over",
    chat_not_held: "This chat is no longer on your desk",
    agent_not_available: "The other agent cannot take the chat now",
    capacity_reached: "The other agent has no room for another chat",
    next_status_pending: "A next status is pending",
    unknown_agent: "No such agent",
    unknown_classification: "That classification is not on the list",
    retired_classification: "That classification is no longer used",
    classification_not_in_profile: "That classification is not in your profile",
    classification_mode_mismatch: "This queue takes another kind of classification",
    free_text_too_short: "The classification is too short",
    free_text_too_long: "The classification is too long",
    additional_text_too_long: "The additional text is too long",
    control_characters: "The text holds characters that cannot be saved",
    abuse_reason_too_long: "The reason is too long",
    version_conflict: "Someone else changed this at the same moment; try again",
    store_locked: "The database is busy; try again",
    store_unavailable: "The database cannot be reached; try again",
  };

  function reasonText(code) {
    return REASONS[code] || String(code).replace(/_/g, " ");
  }

  // A refusal as a person reads it: the reason in words, then the
  // library's own message, which names the chat and the rule.
  function refusalText(error) {
    if (!error) return "";
    const words = reasonText(error.code);
    return error.message ? `${words}. ${error.message}` : words;
  }

  async function post(path, body) {
    const payload = { ...(body || {}), command_id: commandId() };
    for (let attempt = 0; attempt < 3; attempt += 1) {
      let response;
      try {
        response = await fetch(root + path, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(payload),
        });
      } catch (failure) {
        // The same command id: a retry is replayed, never applied twice.
        await new Promise((resolve) => setTimeout(resolve, 300 * (attempt + 1)));
        continue;
      }
      const data = await response.json().catch(() => ({}));
      if (response.ok) return { data };
      const error = data.error || { code: `http_${response.status}`, message: "" };
      if (!error.retryable || attempt === 2) return { error };
      await new Promise((resolve) => setTimeout(resolve, 300 * (attempt + 1)));
    }
    return { error: { code: "store_unavailable", message: "the server cannot be reached" } };
  }

  async function get(path) {
    const response = await fetch(root + path);
    const data = await response.json().catch(() => ({}));
    return response.ok ? { data } : { error: data.error || { code: `http_${response.status}` } };
  }

  function follow(path, onMessage, linkState) {
    const source = new EventSource(root + path);
    source.onopen = () => showLink(linkState, "live");
    source.onerror = () => showLink(linkState, "reconnecting");
    source.onmessage = (message) => {
      const data = JSON.parse(message.data);
      const at = data.at || (data.view && data.view.at);
      if (at) sync(at);
      showLink(linkState, "live");
      onMessage(data);
    };
    return source;
  }

  function showLink(element, state) {
    if (!element) return;
    element.className = `link-state ${state}`;
    element.textContent = state === "live" ? "live" : "reconnecting\u2026";
  }

  function clock(seconds) {
    const whole = Math.max(0, Math.ceil(seconds));
    const h = Math.floor(whole / 3600);
    const m = Math.floor((whole % 3600) / 60);
    const s = String(whole % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
  }

  function timeOfDay(instant) {
    return instant ? instant.slice(11, 19) : "";
  }

  function element(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  return { root, sync, serverNow, reasonText, refusalText, post, get, follow, clock, timeOfDay, element };
})();
