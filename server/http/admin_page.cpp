#include "server/http/admin_page.hpp"

// Three small files kept as raw strings, so hushd serves the page with nothing to install or build. The script
// and the style sheet are separate files so that the page's Content-Security-Policy can forbid inline code.
// Everything the API returns is shown with textContent, never parsed as HTML: reasons and JIDs come from
// strangers and from other servers' lists.

namespace hush {

std::string_view admin_page_html() {
    return R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Hush admin</title>
<link rel="stylesheet" href="/admin/admin.css">
<script src="/admin/admin.js" defer></script>
</head>
<body>
<header>
  <h1>Hush admin</h1>
  <form id="login-form" autocomplete="off">
    <label for="token">Admin token</label>
    <input id="token" type="password" placeholder="from: hushctl token create NAME" required>
    <button id="login" type="submit">Sign in</button>
    <button id="logout" type="button" hidden>Sign out</button>
  </form>
</header>
<p id="error" role="alert" hidden></p>
<p id="status" role="status"></p>
<main id="app" hidden>
  <section>
    <h2>Blocklist</h2>
    <form id="add-form" autocomplete="off">
      <select id="add-kind" aria-label="kind">
        <option value="domain">domain</option>
        <option value="jid">jid</option>
        <option value="ip">ip</option>
      </select>
      <input id="add-value" aria-label="value" placeholder="spam.example, bot@spam.example or 192.0.2.0/24" required>
      <input id="add-reason" aria-label="reason" placeholder="reason (optional)">
      <input id="add-expires" aria-label="expires in hours" type="number" min="1" step="1"
             placeholder="expires in hours (optional)">
      <label><input id="add-contacts" type="checkbox"> contacts too</label>
      <button id="add-submit" type="submit">Add</button>
    </form>
    <p class="tools">
      <input id="search" type="search" aria-label="search entries" placeholder="Search entries">
      <span id="entries-count"></span>
    </p>
    <table id="entries">
      <thead><tr><th>Kind</th><th>Value</th><th>Reason</th><th>Source</th><th>Added</th><th>Expires</th><th></th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section>
    <h2>Recent verdicts <button id="refresh" type="button">Refresh</button></h2>
    <table id="verdicts">
      <thead><tr><th>Time (UTC)</th><th>Policy</th><th>Verdict</th><th>Reason</th><th>Sender</th><th>Receiver</th><th>Stanza</th><th>Score</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section>
    <h2>Registration</h2>
    <h3>Invitations</h3>
    <form id="invite-form" autocomplete="off">
      <input id="invite-uses" aria-label="uses" type="number" min="1" step="1" placeholder="uses (1)">
      <input id="invite-expires" aria-label="expires in hours" type="number" min="0" step="1"
             placeholder="expires in hours (default)">
      <input id="invite-username" aria-label="only this username" placeholder="only this username (optional)">
      <button id="invite-submit" type="submit">Create invitation</button>
    </form>
    <p id="invite-created" hidden>New invitation, shown once: <code id="invite-uri"></code></p>
    <table id="invites">
      <thead><tr><th>Id</th><th>Host</th><th>Username</th><th>Inviter</th><th>Uses left</th><th>Created</th><th>Expires</th><th>State</th><th></th></tr></thead>
      <tbody></tbody>
    </table>
    <h3>Waiting for approval</h3>
    <table id="pending">
      <thead><tr><th>Account</th><th>Registered</th><th>From</th><th></th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
</body>
</html>
)html";
}

std::string_view admin_page_css() {
    return R"css([hidden] { display: none !important; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1.5em 2em; color: #222; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 1.5em; border-bottom: 1px solid #ccc; }
h1 { font-size: 1.4em; }
h2 { font-size: 1.15em; margin-top: 1.5em; }
form, .tools { display: flex; flex-wrap: wrap; gap: .5em; align-items: center; }
input, select, button { font: inherit; padding: .25em .4em; }
#add-value { min-width: 22em; }
#error { background: #fde8e8; border: 1px solid #d33; color: #900; padding: .5em .8em; }
#status { color: #555; min-height: 1.4em; }
table { border-collapse: collapse; width: 100%; margin-top: .5em; }
th, td { text-align: left; padding: .25em .6em; border-bottom: 1px solid #e4e4e4; vertical-align: top; }
th { background: #f4f4f4; }
td { word-break: break-word; }
td.none { color: #888; font-style: italic; }
h3 { font-size: 1em; margin-top: 1em; }
#invite-uri { user-select: all; word-break: break-all; }
)css";
}

std::string_view admin_page_js() {
    return R"js("use strict";
// The admin page: a token kept in sessionStorage (gone when the tab closes), then the JSON API with it.
(function () {
  const tokenKey = "hush-admin-token";
  const $ = (id) => document.getElementById(id);

  function showError(message) {
    $("error").textContent = message;
    $("error").hidden = !message;
    if (message) {
      $("status").textContent = "";  // an older success message next to a new error would mislead
    }
  }

  function setStatus(message) {
    $("status").textContent = message;
  }

  function signOut() {
    sessionStorage.removeItem(tokenKey);
    $("app").hidden = true;
    $("logout").hidden = true;
    $("entries").tBodies[0].replaceChildren();
    $("verdicts").tBodies[0].replaceChildren();
    $("invites").tBodies[0].replaceChildren();
    $("pending").tBodies[0].replaceChildren();
    $("invite-created").hidden = true;
    $("invite-uri").textContent = "";
  }

  // Calls the API; throws an Error whose message is fit to show.
  async function api(method, path, body) {
    const headers = { "Authorization": "Bearer " + (sessionStorage.getItem(tokenKey) || "") };
    const init = { method: method, headers: headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new Error("cannot reach the server: " + e.message);
    }
    if (res.status === 401) {
      signOut();
      throw new Error("bad token: the server refused it (401)");
    }
    if (res.status === 204) {
      return null;
    }
    let data = null;
    try {
      data = await res.json();
    } catch (e) {
      data = null;
    }
    if (!res.ok) {
      throw new Error((data && data.error ? data.error : "request failed") + " (" + res.status + ")");
    }
    return data;
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) {
      td.className = className;
    }
    return td;
  }

  function applySearch() {
    const q = $("search").value.trim().toLowerCase();
    const rows = Array.from($("entries").tBodies[0].rows);
    let shown = 0;
    for (const row of rows) {
      row.hidden = q !== "" && !row.textContent.toLowerCase().includes(q);
      shown += row.hidden ? 0 : 1;
    }
    $("entries-count").textContent = q === "" ? rows.length + " entries" : shown + " of " + rows.length + " entries";
  }

  async function remove(kind, value) {
    try {
      await api("DELETE", "/api/blocklist/" + encodeURIComponent(kind) + "/" + encodeURIComponent(value));
      showError("");
      setStatus("removed " + kind + " " + value);
      await loadEntries();
    } catch (e) {
      showError(e.message);
    }
  }

  function renderEntries(entries) {
    const rows = entries.map((e) => {
      const tr = document.createElement("tr");
      tr.dataset.kind = e.kind;
      tr.dataset.value = e.value;
      tr.append(cell(e.kind), cell(e.value), cell(e.reason), cell(e.source), cell(e.added),
                e.expires ? cell(e.expires) : cell("never", "none"));
      const action = document.createElement("td");
      if (e.source.startsWith("import:")) {
        action.textContent = "imported";  // replaced by the next fetch of its list; nothing to remove here
        action.className = "none";
      } else {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "remove";
        button.textContent = "Remove";
        button.setAttribute("aria-label", "remove " + e.kind + " " + e.value);
        button.addEventListener("click", () => remove(e.kind, e.value));
        action.append(button);
      }
      tr.append(action);
      return tr;
    });
    $("entries").tBodies[0].replaceChildren(...rows);
    applySearch();
  }

  function renderVerdicts(verdicts) {
    const rows = verdicts.map((v) => {
      const tr = document.createElement("tr");
      const when = new Date(v.time * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, "");
      tr.append(cell(when), cell(v.policy), cell(v.verdict), cell(v.reason), cell(v.sender), cell(v.receiver),
                cell(v.stanza), cell(v.explanation || ""));
      return tr;
    });
    $("verdicts").tBodies[0].replaceChildren(...rows);
  }

  function actionButton(label, className, ariaLabel, onClick) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = className;
    button.textContent = label;
    button.setAttribute("aria-label", ariaLabel);
    button.addEventListener("click", onClick);
    return button;
  }

  async function act(method, path, message, reload) {
    try {
      await api(method, path);
      showError("");
      setStatus(message);
      await reload();
    } catch (e) {
      showError(e.message);
    }
  }

  function renderInvites(invites) {
    const rows = invites.map((i) => {
      const tr = document.createElement("tr");
      tr.dataset.id = i.id;
      tr.append(cell(i.id), cell(i.host), i.username ? cell(i.username) : cell("any", "none"),
                i.inviter ? cell(i.inviter) : cell("admin", "none"), cell(i.uses_left + " of " + i.uses_total),
                cell(i.created), i.expires ? cell(i.expires) : cell("never", "none"), cell(i.state));
      const action = document.createElement("td");
      action.append(actionButton("Revoke", "revoke", "revoke invitation " + i.id,
                                 () => act("DELETE", "/api/invites/" + encodeURIComponent(i.id),
                                           "revoked invitation " + i.id, loadInvites)));
      tr.append(action);
      return tr;
    });
    $("invites").tBodies[0].replaceChildren(...rows);
  }

  function renderPending(accounts) {
    const rows = accounts.map((p) => {
      const tr = document.createElement("tr");
      tr.dataset.jid = p.jid;
      tr.append(cell(p.jid), cell(p.requested), cell(p.address));
      const action = document.createElement("td");
      const path = "/api/registrations/pending/" + encodeURIComponent(p.jid);
      action.append(actionButton("Approve", "approve", "approve " + p.jid,
                                 () => act("POST", path + "/approve", "approved " + p.jid, loadPending)),
                    actionButton("Deny", "deny", "deny " + p.jid,
                                 () => act("POST", path + "/deny", "denied " + p.jid, loadPending)));
      tr.append(action);
      return tr;
    });
    $("pending").tBodies[0].replaceChildren(...rows);
  }

  async function loadInvites() {
    renderInvites(await api("GET", "/api/invites"));
  }

  async function loadPending() {
    renderPending(await api("GET", "/api/registrations/pending"));
  }

  async function loadEntries() {
    renderEntries(await api("GET", "/api/blocklist"));
  }

  async function loadVerdicts() {
    renderVerdicts(await api("GET", "/api/verdicts?limit=200"));
  }

  async function loadAll() {
    try {
      await loadEntries();
      await loadVerdicts();
      await loadInvites();
      await loadPending();
      showError("");
      $("app").hidden = false;
      $("logout").hidden = false;
    } catch (e) {
      showError(e.message);
    }
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(tokenKey, $("token").value.trim());
    $("token").value = "";
    setStatus("");
    loadAll();
  });

  $("logout").addEventListener("click", () => {
    signOut();
    showError("");
    setStatus("signed out");
  });

  $("search").addEventListener("input", applySearch);

  $("refresh").addEventListener("click", async () => {
    try {
      await loadVerdicts();
      showError("");
    } catch (e) {
      showError(e.message);
    }
  });

  $("add-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const entry = { kind: $("add-kind").value, value: $("add-value").value.trim(), reason: $("add-reason").value.trim() };
    const hours = $("add-expires").value.trim();
    if (hours !== "") {
      entry.expires_hours = Number(hours);  // the server says what is wrong with it, if anything
    }
    if ($("add-contacts").checked) {
      entry.contacts_too = true;
    }
    $("add-submit").disabled = true;
    try {
      const stored = await api("POST", "/api/blocklist", entry);
      showError("");
      setStatus("blocked " + stored.kind + " " + stored.value);
      $("add-value").value = "";
      $("add-reason").value = "";
      $("add-expires").value = "";
      $("add-contacts").checked = false;
      await loadEntries();
    } catch (e) {
      showError(e.message);
    } finally {
      $("add-submit").disabled = false;
    }
  });

  $("invite-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const request = {};
    const uses = $("invite-uses").value.trim();
    const hours = $("invite-expires").value.trim();
    const username = $("invite-username").value.trim();
    if (uses !== "") {
      request.uses = Number(uses);
    }
    if (hours !== "") {
      request.expires_hours = Number(hours);
    }
    if (username !== "") {
      request.username = username;
    }
    $("invite-submit").disabled = true;
    try {
      const created = await api("POST", "/api/invites", request);
      showError("");
      setStatus("created invitation " + created.id);
      $("invite-uri").textContent = created.uri;
      $("invite-created").hidden = false;
      $("invite-uses").value = "";
      $("invite-expires").value = "";
      $("invite-username").value = "";
      await loadInvites();
    } catch (e) {
      showError(e.message);
    } finally {
      $("invite-submit").disabled = false;
    }
  });

  if (sessionStorage.getItem(tokenKey)) {
    loadAll();
  }
})();
)js";
}

}  // namespace hush
