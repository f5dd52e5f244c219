// The agent desk: draws the library's view of one agent, pushed by the
// server on every event, and sends the agent's clicks as commands.
"use strict";

(() => {
  const el = Desk.element;
  const agentId = decodeURIComponent(
    location.pathname.slice(location.pathname.indexOf("/desk/") + "/desk/".length),
  );
  const api = `api/agents/${encodeURIComponent(agentId)}`;
  const cards = new Map();
  const refreshedFor = new Map();
  let state = null;

  const PHASES = { active: "Active", parked: "Parked", wrap_up: "Wrap-up", paused: "Wrap-up paused" };
  const ENDINGS = {
    completed_early: "completed",
    expired: "expired",
    expired_with_default: "expired (timeout default applied)",
    ended_without_wrap_up: "ended without wrap-up",
  };

  document.getElementById("agent").textContent = agentId;
  document.title = `Desk \u00b7 ${agentId}`;

  function render(message) {
    if (message.type === "clock") return;
    if (message.error) {
      document.getElementById("status-refusal").textContent = Desk.refusalText(message.error);
      return;
    }
    for (const stored of message.events || []) log(stored.event);
    state = message;
    renderStatus(message.view);
    renderChats(message.view);
    tick();
  }

  function renderStatus(view) {
    const pill = document.getElementById("status");
    pill.textContent = view.status_label;
    pill.dataset.status = view.status;
    const presence = view.presence_reason || view.presence.replace("_", " ");
    document.getElementById("presence").textContent =
      view.chats.length ? `Presence when free: ${presence}` : "";
    const next = view.next_presence;
    document.getElementById("next-row").hidden = !next;
    document.getElementById("next").textContent = next
      ? view.next_presence_reason || next.replace("_", " ")
      : "";
  }

  function renderChats(view) {
    const seen = new Set();
    const container = document.getElementById("chats");
    for (const chat of view.chats) {
      seen.add(chat.chat_id);
      let card = cards.get(chat.chat_id);
      if (!card) {
        card = buildCard(chat.chat_id);
        cards.set(chat.chat_id, card);
        container.append(card.root);
      }
      updateCard(card, chat);
    }
    for (const [chatId, card] of cards) {
      if (!seen.has(chatId)) {
        card.root.remove();
        cards.delete(chatId);
      }
    }
    document.getElementById("no-chats").hidden = view.chats.length > 0;
  }

  function button(label, action, card, extraClass) {
    const node = el("button", { type: "button", "data-action": action, class: extraClass || "" }, label);
    node.addEventListener("click", () => card.send(action));
    return node;
  }

  function buildCard(chatId) {
    const card = { chatId, inputKey: null };
    card.send = (action, body) => act(card, action, body);
    card.phase = el("div", { class: "phase" });
    card.customer = el("div", { class: "muted" });
    card.badges = el("div", { class: "row" });
    card.countdown = el("div", { class: "countdown", "data-role": "countdown" });
    card.meterFill = el("div");
    card.meter = el("div", { class: "meter" }, card.meterFill);
    card.icon = el("span", { class: "extension-icon", "data-role": "extensions-left" });
    card.buttons = {
      extend: button("Extend", "extend", card),
      complete: button("Complete", "complete", card),
      pause: button("Pause", "pause", card, "secondary"),
      resume: button("Resume", "resume", card, "secondary"),
      park: button("Park", "park", card, "secondary"),
      activate: button("Activate", "activate", card, "secondary"),
      end: button("End chat", "end", card, "secondary"),
    };
    card.buttons.extend.append(card.icon);
    card.why = el("ul", { class: "why", "data-role": "why" });

    card.classification = el("div", { "data-role": "classification-input" });
    card.additional = el("textarea", { "data-role": "additional-text", placeholder: "Additional text for the contact history" });
    card.additional.addEventListener("input", () => {
      card.additional.dataset.dirty = "true";
      updateCounter(card);
    });
    card.counter = el("div", { class: "muted" });
    card.save = el("button", { type: "button", "data-action": "classify" }, "Save classification");
    card.save.addEventListener("click", () => classify(card));
    const classifySection = el(
      "div",
      { class: "section" },
      el("label", { text: "Classification" }),
      card.classification,
      el("label", { text: "Additional text" }),
      card.additional,
      card.counter,
      el("div", { class: "row" }, card.save),
    );

    card.reason = el("input", { "data-role": "abuse-reason", placeholder: "Reason (optional)", maxlength: "500" });
    card.flag = el("button", { type: "button", class: "danger", "data-action": "flag_abusive" }, "Flag as abusive");
    card.flag.addEventListener("click", () =>
      act(card, "flag_abusive", { reason: card.reason.value.trim() || null }),
    );
    const flagSection = el("div", { class: "section row" }, card.reason, card.flag);

    card.transferKind = el("select", { "data-role": "transfer-kind" },
      el("option", { value: "to_queue_id" }, "to queue"),
      el("option", { value: "to_agent_id" }, "to agent"));
    card.transferTarget = el("input", { "data-role": "transfer-target", placeholder: "queue or agent id" });
    card.transferButton = el("button", { type: "button", class: "secondary", "data-action": "transfer" }, "Transfer");
    card.transferButton.addEventListener("click", () => {
      const target = card.transferTarget.value.trim();
      act(card, "transfer", { [card.transferKind.value]: target || null });
    });
    card.transfer = el("div", { class: "section row" }, card.transferKind, card.transferTarget, card.transferButton);

    card.refusal = el("div", { class: "refusal", role: "alert", "data-role": "refusal" });
    const b = card.buttons;
    card.root = el(
      "article",
      { class: "chat", "data-chat": chatId },
      el("div", { class: "row" }, el("h3", { text: chatId }), card.phase),
      card.customer,
      card.badges,
      card.countdown,
      card.meter,
      el("div", { class: "row section" }, b.extend, b.complete, b.pause, b.resume, b.park, b.activate, b.end),
      card.why,
      card.refusal,
      classifySection,
      flagSection,
      card.transfer,
    );
    return card;
  }

  function updateCard(card, chat) {
    card.chat = chat;
    card.phase.textContent = chat.paused ? PHASES.paused : PHASES[chat.phase] || chat.phase;
    card.customer.textContent = `Customer ${chat.customer_id} \u00b7 queue ${chat.queue_id}`;
    card.icon.textContent = String(chat.extensions_left);
    const inWrapUp = chat.phase === "wrap_up" || chat.phase === "paused" || chat.paused;
    const visible = {
      extend: inWrapUp,
      complete: inWrapUp,
      pause: inWrapUp && !chat.paused,
      resume: inWrapUp && chat.paused,
      park: chat.phase === "active",
      activate: chat.phase === "parked",
      end: chat.phase === "active" || chat.phase === "parked",
    };
    const enabled = {
      extend: [chat.extend_enabled, chat.extend_disabled_reason],
      complete: [chat.complete_enabled, chat.complete_disabled_reason],
      pause: [chat.pause_enabled, chat.pause_disabled_reason],
      resume: [chat.resume_enabled, chat.resume_disabled_reason],
      park: [chat.park_enabled, chat.park_disabled_reason],
      activate: [chat.activate_enabled, chat.activate_disabled_reason],
      end: [true, null],
    };
    card.why.replaceChildren();
    for (const [name, node] of Object.entries(card.buttons)) {
      const [on, reason] = enabled[name];
      node.hidden = !visible[name];
      node.disabled = !on;
      node.title = on ? "" : Desk.reasonText(reason);
      if (visible[name] && !on && (name === "extend" || name === "complete")) {
        card.why.append(el("li", { "data-why": name }, `${node.firstChild.textContent}: ${Desk.reasonText(reason)}`));
      }
    }
    card.flag.disabled = !chat.flag_abusive_enabled;
    card.flag.title = chat.flag_abusive_enabled ? "" : Desk.reasonText(chat.flag_abusive_disabled_reason);
    card.reason.hidden = !chat.flag_abusive_enabled;
    card.transfer.hidden = !(chat.phase === "active" || chat.phase === "parked");
    updateBadges(card, chat);
    updateClassification(card, chat);
  }

  function updateBadges(card, chat) {
    card.badges.replaceChildren();
    if (chat.classification) {
      card.badges.append(el("span", { class: "badge classified", "data-role": "classified" },
        `Classified: ${chat.classification.label}`));
    } else if (chat.classification_required) {
      card.badges.append(el("span", { class: "badge" }, "Classification required"));
    }
    if (chat.flagged_abusive) {
      card.badges.append(el("span", { class: "badge abusive", "data-role": "flagged" }, "Flagged as abusive"));
    }
  }

  function updateClassification(card, chat) {
    const input = chat.classification_input;
    const key = JSON.stringify(input);
    if (card.inputKey !== key) {
      card.inputKey = key;
      card.choice = input.kind === "dropdown" ? dropdown(card, input) : freeText(card, input);
      card.classification.replaceChildren(card.choice);
    }
    const current = chat.classification;
    if (document.activeElement !== card.choice && card.choice.dataset.dirty !== "true") {
      card.choice.value = current ? (input.kind === "dropdown" ? current.code || "" : current.label) : "";
    }
    card.additional.maxLength = chat.additional_text_max_length;
    if (document.activeElement !== card.additional && card.additional.dataset.dirty !== "true") {
      card.additional.value = chat.additional_text || "";
    }
    updateCounter(card);
  }

  function dropdown(card, input) {
    const select = el("select", { "data-role": "classification" }, el("option", { value: "" }, "\u2014 choose \u2014"));
    const groups = new Map();
    for (const option of input.options) {
      let parent = select;
      if (option.group) {
        if (!groups.has(option.group)) {
          groups.set(option.group, el("optgroup", { label: option.group }));
          select.append(groups.get(option.group));
        }
        parent = groups.get(option.group);
      }
      parent.append(el("option", { value: option.code }, option.label));
    }
    // A choice is sent as soon as it is made: kept even if the wrap-up expires.
    select.addEventListener("change", () => {
      if (select.value) classify(card);
    });
    return select;
  }

  function freeText(card, input) {
    const box = el("input", {
      "data-role": "classification",
      minlength: String(input.min_length),
      maxlength: String(input.max_length),
      placeholder: `Classification (${input.min_length} to ${input.max_length} characters)`,
    });
    box.addEventListener("input", () => { box.dataset.dirty = "true"; });
    return box;
  }

  function updateCounter(card) {
    card.counter.textContent = `${card.additional.value.length} / ${card.additional.maxLength} characters`;
  }

  function classify(card) {
    const value = card.choice.value.trim();
    const extra = card.additional.value.trim();
    const kind = JSON.parse(card.inputKey).kind;
    const body = { additional_text: extra || null };
    body[kind === "dropdown" ? "code" : "text"] = value || null;
    act(card, "classify", body).then((ok) => {
      if (ok) {
        delete card.choice.dataset.dirty;
        delete card.additional.dataset.dirty;
      }
    });
  }

  async function act(card, action, body) {
    card.refusal.textContent = "";
    const path = `${api}/chats/${encodeURIComponent(card.chatId)}/${action}`;
    const { data, error } = await Desk.post(path, body);
    if (error) {
      card.refusal.textContent = Desk.refusalText(error);
      if (error.code === "chat_not_held") refresh();
      return false;
    }
    render({ ...data, events: [] });
    return true;
  }

  function tick() {
    if (!state || !state.view) return;
    const now = Desk.serverNow();
    for (const chat of state.view.chats) {
      const card = cards.get(chat.chat_id);
      if (card) tickCard(card, chat, now);
    }
  }

  function tickCard(card, chat, now) {
    const node = card.countdown;
    if (chat.deadline === null || chat.seconds_left === null) {
      node.textContent = chat.phase === "active" || chat.phase === "parked" ? "In conversation" : "No time limit";
      node.dataset.level = "";
      node.dataset.paused = String(chat.paused);
      card.meter.hidden = true;
      return;
    }
    const left = chat.paused
      ? chat.seconds_left
      : Math.max(0, (Date.parse(chat.deadline) - now) / 1000);
    const length = state.countdowns[chat.chat_id];
    const share = length ? Math.min(1, left / length) : null;
    node.dataset.level = chat.paused || share === null ? chat.warning_level : level(share);
    node.dataset.paused = String(chat.paused);
    card.meter.dataset.level = chat.paused ? "" : node.dataset.level;
    node.textContent = Desk.clock(left);
    if (chat.paused) node.append(el("span", { class: "note" }, "paused"));
    card.meter.hidden = share === null;
    card.meterFill.style.width = `${Math.round((share || 0) * 100)}%`;
    if (!chat.paused && left <= 0 && refreshedFor.get(chat.chat_id) !== chat.deadline) {
      // The server decides expiry: ask it what the desk shows now.
      refreshedFor.set(chat.chat_id, chat.deadline);
      setTimeout(refresh, 300);
    }
  }

  function level(share) {
    if (share > 0.5) return "normal";
    if (share > 0.25) return "low";
    return "critical";
  }

  async function refresh() {
    const { data, error } = await Desk.get(api);
    if (error) render({ error });
    else render({ ...data, events: [] });
  }

  function describe(event) {
    const chat = event.chat_id;
    switch (event.type) {
      case "chat_assigned": return `New chat ${chat} from ${event.customer_id} (${event.queue_id})`;
      case "chat_ended": return `Chat ${chat} ended by the ${event.ended_by}`;
      case "wrap_up_started": return `Wrap-up of ${chat} started, ${event.extensions_left} extension(s)`;
      case "wrap_up_extended": return `Wrap-up of ${chat} extended: ${event.extensions_left} extension(s) left`;
      case "chat_classified": return `${chat} classified as \u201c${event.classification.label}\u201d`;
      case "chat_flagged_abusive": return `${chat} flagged as abusive`;
      case "wrap_up_completed": return `Wrap-up of ${chat} ${ENDINGS[event.ending] || event.ending}`;
      case "wrap_up_paused": return `Wrap-up of ${chat} paused`;
      case "wrap_up_resumed": return `Wrap-up of ${chat} resumed${event.automatic ? " by itself" : ""}`;
      case "chat_parked": return `${chat} parked`;
      case "chat_activated": return `${chat} taken up again`;
      case "chat_transferred": return `${chat} transferred to ${event.to_agent_id || event.to_queue_id}`;
      case "status_changed": return `Status: ${event.status.replace("_", " ")}`;
      case "presence_changed": return `Presence: ${event.reason || event.presence.replace("_", " ")}`;
      case "next_presence_chosen": return event.presence ? `Next status: ${event.reason || event.presence}` : "Next status cancelled";
      default: return event.type.replace(/_/g, " ");
    }
  }

  function log(event) {
    const list = document.getElementById("log");
    list.prepend(el("li", {}, `${Desk.timeOfDay(event.at)}  ${describe(event)}`));
    while (list.children.length > 12) list.lastChild.remove();
  }

  async function statusCommand(path, body) {
    const refusal = document.getElementById("status-refusal");
    refusal.textContent = "";
    const { data, error } = await Desk.post(path, body);
    if (error) refusal.textContent = Desk.refusalText(error);
    else render({ ...data, events: [] });
  }

  document.getElementById("set-presence").addEventListener("click", () => {
    const presence = document.getElementById("presence-choice").value;
    const reason = document.getElementById("presence-reason").value.trim();
    statusCommand(`${api}/presence`, { presence, reason: presence === "not_ready" && reason ? reason : null });
  });
  document.getElementById("cancel-next").addEventListener("click", () =>
    statusCommand(`${api}/next-presence/cancel`, {}),
  );

  Desk.follow(`${api}/stream`, render, document.getElementById("link"));
  setInterval(tick, 250);
})();
