// The model picker: a button that opens a filterable listbox (WAI-ARIA APG "combobox with
// listbox popup"). The filter input is the combobox; the highlighted option is announced
// through aria-activedescendant while focus stays in the input, so typing keeps filtering.
//   button: Enter, Space, ArrowDown or ArrowUp open; typing a letter opens and filters.
//   filter: ArrowUp/Down, Home/End, PageUp/Down move; Enter chooses; Escape closes and
//   returns focus to the button; Tab moves on (leaving the picker closes it).

export function perMillion(price) {
  return price === null || price === undefined ? "?" : `$${(price * 1e6).toFixed(2)}`;
}

// "8k ctx · in $1.00 / out $2.00 per 1M": the same line in every picker.
export function modelMeta(model) {
  if (model.kind !== "model") return "route";
  const context = model.context_length ? `${Math.round(model.context_length / 1000)}k ctx · ` : "";
  return `${context}in ${perMillion(model.prompt_price)} / out ${perMillion(model.completion_price)} per 1M`;
}

// "8k · $1.00/$2.00": the same facts, short enough for a <select>'s option.
export function shortMeta(model) {
  if (model.kind !== "model") return "route";
  const context = model.context_length ? `${Math.round(model.context_length / 1000)}k · ` : "";
  return `${context}${perMillion(model.prompt_price)}/${perMillion(model.completion_price)}`;
}

export function modelBadges(model) {
  const badges = [];
  if (model.kind === "route") badges.push(["route", ""]);
  if (model.vision) badges.push(["vision", "vision"]);
  if (model.free) badges.push(["free", "free"]);
  if (model.reasoning) badges.push(["reasoning", ""]);
  return badges;
}

function span(className, text) {
  const node = document.createElement("span");
  node.className = className;
  node.textContent = text;
  return node;
}

const PAGE_STEP = 8;

// `root` holds #model-button, #model-panel, #model-filter, the .filters checkboxes and
// #model-list. `current()` names the chosen model; `onChoose(id)` is told of a choice.
export function createModelPicker(root, { current, onChoose }) {
  const button = root.querySelector("#model-button");
  const panel = root.querySelector("#model-panel");
  const filter = root.querySelector("#model-filter");
  const list = root.querySelector("#model-list");
  const checks = {
    vision: root.querySelector("#only-vision"),
    free: root.querySelector("#only-free"),
    routes: root.querySelector("#only-routes"),
  };
  let models = [];
  let shown = [];
  let active = -1;

  function matches(model) {
    const text = filter.value.trim().toLowerCase();
    return (
      (!text || model.id.toLowerCase().includes(text) || (model.name || "").toLowerCase().includes(text)) &&
      (!checks.vision.checked || model.vision) &&
      (!checks.free.checked || model.free) &&
      (!checks.routes.checked || model.kind === "route")
    );
  }

  function optionNode(model, index) {
    const li = document.createElement("li");
    li.id = `model-option-${index}`;
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", "false");
    li.dataset.id = model.id;
    if (model.id === current()) li.classList.add("current");
    li.append(span("m-id", model.id));
    for (const [text, kind] of modelBadges(model)) li.append(span(`badge ${kind}`.trim(), text));
    if (model.kind === "model") li.append(span("m-meta", modelMeta(model)));
    li.addEventListener("click", () => choose(model.id));
    li.addEventListener("mousemove", () => highlight(index, false));
    return li;
  }

  function render() {
    shown = models.filter(matches);
    list.replaceChildren(...shown.map(optionNode));
    if (!shown.length) list.append(Object.assign(document.createElement("li"), { className: "empty", textContent: "no model matches" }));
    const chosen = shown.findIndex((m) => m.id === current());
    highlight(filter.value.trim() ? 0 : Math.max(chosen, 0));
  }

  function highlight(index, scroll = true) {
    const options = list.querySelectorAll("[role=option]");
    active = options.length ? Math.min(Math.max(index, 0), options.length - 1) : -1;
    options.forEach((option, i) => {
      option.setAttribute("aria-selected", String(i === active));
      option.classList.toggle("active", i === active);
    });
    if (active < 0) {
      filter.removeAttribute("aria-activedescendant");
      return;
    }
    filter.setAttribute("aria-activedescendant", options[active].id);
    if (scroll) options[active].scrollIntoView({ block: "nearest" });
  }

  function isOpen() {
    return !panel.hidden;
  }

  function open(typed = "") {
    panel.hidden = false;
    button.setAttribute("aria-expanded", "true");
    filter.setAttribute("aria-expanded", "true");
    filter.value = typed;
    render();
    filter.focus();
  }

  function close(refocus = false) {
    if (!isOpen()) return;
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
    filter.setAttribute("aria-expanded", "false");
    filter.removeAttribute("aria-activedescendant");
    if (refocus) button.focus();
  }

  function choose(id) {
    close(true);
    onChoose(id);
  }

  function onFilterKey(event) {
    const moves = {
      ArrowDown: active + 1,
      ArrowUp: active - 1,
      PageDown: active + PAGE_STEP,
      PageUp: active - PAGE_STEP,
      Home: 0,
      End: shown.length - 1,
    };
    if (event.key in moves) {
      event.preventDefault();
      highlight(moves[event.key]);
    } else if (event.key === "Enter") {
      event.preventDefault();
      if (active >= 0) choose(shown[active].id);
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation(); // the innermost layer closes, not the stream behind it
      close(true);
    }
  }

  function onButtonKey(event) {
    if (["ArrowDown", "ArrowUp", "Enter", " "].includes(event.key)) {
      event.preventDefault();
      open();
    } else if (event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault(); // typeahead: the first letter starts the filter
      open(event.key);
    }
  }

  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", panel.id);
  filter.setAttribute("role", "combobox");
  filter.setAttribute("aria-autocomplete", "list");
  filter.setAttribute("aria-expanded", "false");
  filter.setAttribute("aria-controls", list.id);
  button.addEventListener("click", () => (isOpen() ? close(true) : open()));
  button.addEventListener("keydown", onButtonKey);
  filter.addEventListener("keydown", onFilterKey);
  filter.addEventListener("input", render);
  for (const check of Object.values(checks)) check.addEventListener("change", render);
  root.addEventListener("focusout", (event) => {
    if (event.relatedTarget && !root.contains(event.relatedTarget)) close();
  });
  document.addEventListener("click", (event) => {
    if (!root.contains(event.target)) close();
  });

  return {
    setModels(next) {
      models = next;
      if (isOpen()) render();
    },
    isOpen,
    close: () => close(true),
  };
}
