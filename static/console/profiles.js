// Profiles from the chat page: the profile editor (create, edit, delete through
// /api/profiles) and the session overrides dialog, which shows the values a turn really
// uses and where each comes from.

// What a turn uses without a profile (console/chat.py openai_body).
export const DEFAULTS = { system_prompt: "", temperature: 0.7, max_tokens: 2048 };
const FIELDS = ["system_prompt", "temperature", "max_tokens"];

// The API names the first bad field: "temperature: Input should be ..." (config/api.py).
function fieldOf(error) {
  const match = /^([\w.]+): (.*)$/s.exec(error.message || "");
  return match ? { field: match[1].split(".").pop(), text: match[2] } : { field: "form", text: error.message };
}

function showErrors(form, error) {
  clearErrors(form);
  const { field, text } = fieldOf(error);
  const input = form.elements[field];
  const slot = form.querySelector(`.field-error[data-for="${input ? field : "form"}"]`);
  slot.textContent = text;
  slot.hidden = false;
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }
}

function clearErrors(form) {
  for (const slot of form.querySelectorAll(".field-error")) {
    slot.textContent = "";
    slot.hidden = true;
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

function numberOrText(value) {
  // An empty or non-numeric entry goes to the API as it is: its 422 names the field.
  return value.trim() !== "" && Number.isFinite(Number(value)) ? Number(value) : value;
}

// --- the profile editor --------------------------------------------------------------

// `dialog` is #profile-dialog; its data-shared-* attributes say which of the
// console.{add,change,delete}_profile permissions the user holds for shared profiles.
export function createProfileEditor(dialog, { call }) {
  const form = dialog.querySelector("form");
  const may = (action) => dialog.dataset[`shared${action}`] === "1";
  let editing = null; // the profile being edited, or null for a new one
  let finish = () => {};

  function fill(profile) {
    const source = profile || { name: "", ...DEFAULTS, model: "", shared: false };
    for (const name of ["name", "system_prompt", "temperature", "max_tokens", "model"]) form.elements[name].value = source[name] ?? "";
    form.elements.shared.checked = Boolean(source.shared);
  }

  function lock(readOnly) {
    for (const input of form.querySelectorAll("input, textarea")) input.disabled = readOnly;
    dialog.querySelector("#profile-readonly").hidden = !readOnly;
    dialog.querySelector("#profile-save").hidden = readOnly;
  }

  function open(profile) {
    editing = profile;
    fill(profile);
    clearErrors(form);
    const readOnly = Boolean(profile?.shared) && !may("Change");
    lock(readOnly);
    dialog.querySelector("#profile-dialog-title").textContent = profile ? `> profile: ${profile.name}` : "> new profile";
    // Sharing is chosen once, at creation, and only by those who may share.
    dialog.querySelector("#profile-shared-row").hidden = Boolean(profile) || !may("Add");
    dialog.querySelector("#profile-delete").hidden = !profile || (profile.shared && !may("Delete"));
    dialog.showModal();
    return new Promise((resolve) => (finish = resolve));
  }

  function payload() {
    const body = {
      name: form.elements.name.value.trim(),
      system_prompt: form.elements.system_prompt.value,
      temperature: numberOrText(form.elements.temperature.value),
      max_tokens: numberOrText(form.elements.max_tokens.value),
      model: form.elements.model.value.trim(),
    };
    if (!editing) body.shared = form.elements.shared.checked;
    return body;
  }

  async function save() {
    try {
      const saved = editing
        ? await call("PATCH", `/api/profiles/${editing.id}`, payload())
        : await call("POST", "/api/profiles", payload());
      done({ saved });
    } catch (error) {
      showErrors(form, error);
    }
  }

  async function remove() {
    if (!confirm(`Delete the profile "${editing.name}"?`)) return;
    try {
      await call("DELETE", `/api/profiles/${editing.id}`);
      done({ deleted: editing });
    } catch (error) {
      showErrors(form, error);
    }
  }

  function done(result) {
    const resolve = finish;
    finish = () => {};
    dialog.close();
    resolve(result);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (event.submitter?.value === "cancel") dialog.close();
    else save();
  });
  dialog.querySelector("#profile-delete").addEventListener("click", remove);
  dialog.addEventListener("close", () => done(null));

  return { edit: (profile) => open(profile), create: () => open(null) };
}

// --- the overrides dialog --------------------------------------------------------------

// A field shows the override if the session has one, else the profile's value, else the
// default; its tag says which. Editing a field overrides it; "reset" follows the profile again.
export function createOverridesDialog(dialog) {
  const form = dialog.querySelector("form");
  let inherited = {};
  let overridden = new Set();
  let keep = async () => {};
  let finish = () => {};

  function origin(name) {
    if (overridden.has(name)) return "this session";
    return inherited.profile ? `profile “${inherited.profile}”` : "default";
  }

  function show(name) {
    const row = form.querySelector(`[data-field="${name}"]`);
    row.querySelector(".origin").textContent = `(${origin(name)})`;
    row.classList.toggle("overridden", overridden.has(name));
    row.querySelector(".reset").hidden = !overridden.has(name);
  }

  function reset(name) {
    overridden.delete(name);
    form.elements[name].value = inherited[name];
    show(name);
    form.elements[name].focus();
  }

  function result() {
    const overrides = {};
    for (const name of overridden) {
      const value = form.elements[name].value;
      if (name === "system_prompt") overrides[name] = value;
      else if (value.trim() !== "") overrides[name] = numberOrText(value);
    }
    return overrides;
  }

  async function save() {
    try {
      await keep(result());
      const resolve = finish;
      finish = () => {};
      dialog.close();
      resolve(true);
    } catch (error) {
      showErrors(form, error);
    }
  }

  for (const name of FIELDS) {
    form.elements[name].addEventListener("input", () => {
      overridden.add(name);
      show(name);
    });
    form.querySelector(`[data-field="${name}"] .reset`).addEventListener("click", () => reset(name));
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (event.submitter?.value === "cancel") dialog.close();
    else save();
  });
  dialog.addEventListener("close", () => {
    const resolve = finish;
    finish = () => {};
    resolve(false);
  });

  // `store(overrides)` saves the session's new overrides (all of them but `models`).
  return {
    open(session, profile, store) {
      const own = session.overrides || {};
      inherited = { profile: profile?.name || "" };
      for (const name of FIELDS) inherited[name] = profile ? profile[name] : DEFAULTS[name];
      overridden = new Set(FIELDS.filter((name) => own[name] !== undefined && own[name] !== null));
      for (const name of FIELDS) {
        form.elements[name].value = overridden.has(name) ? own[name] : inherited[name];
        show(name);
      }
      clearErrors(form);
      keep = store;
      dialog.showModal();
      return new Promise((resolve) => (finish = resolve));
    },
  };
}
