// The ledger checks, done in the browser with WebCrypto only: RFC 9162 leaf and node hashes,
// inclusion and consistency proofs, and the Ed25519 signatures of C2SP signed-note checkpoints.
// Nothing here trusts a hash or a root the server computed: it recomputes them from the bytes.
"use strict";
(function (global) {
  const enc = new TextEncoder();

  function b64(text) {
    const raw = atob(text);
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  function unhex(text) {
    if (!/^([0-9a-f]{2})*$/.test(text)) throw new Error("not hex");
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
    return out;
  }
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  function equal(a, b) {
    if (a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
    return diff === 0;
  }
  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }
  const leafHash = (data) => sha256(concat(Uint8Array.of(0), data));
  const nodeHash = (l, r) => sha256(concat(Uint8Array.of(1), l, r));

  // RFC 9162 §2.1.3.2: the root an inclusion path leads to, or null when the path cannot be one.
  async function rootFromInclusion(index, size, leaf, path) {
    if (index >= size) return null;
    let fn = index, sn = size - 1, r = leaf;
    for (const p of path) {
      if (sn === 0) return null;
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 ? r : null;
  }

  // RFC 9162 §2.1.4.2: true when the path proves the tree of size1/root1 is a prefix of size2/root2.
  async function verifyConsistency(size1, size2, path, root1, root2) {
    if (size1 > size2) return false;
    if (size1 === size2) return path.length === 0 && equal(root1, root2);
    if (size1 === 0) return path.length === 0;
    if (path.length === 0) return false;
    let nodes = path;
    if ((size1 & (size1 - 1)) === 0) nodes = [root1, ...path];
    let fn = size1 - 1, sn = size2 - 1;
    while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    let fr = nodes[0], sr = nodes[0];
    for (const c of nodes.slice(1)) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 && equal(fr, root1) && equal(sr, root2);
  }

  // A signed-note verifier key: "<name>+<hex key id>+<base64(0x01 || 32-byte Ed25519 key)>".
  async function parseVerifierKey(vkey) {
    // The name and the hex id have no "+", but the base64 key may: split at the first two only.
    const a = vkey.indexOf("+"), b = vkey.indexOf("+", a + 1);
    if (a < 1 || b < 0) throw new Error("malformed verifier key");
    const parts = [vkey.slice(0, a), vkey.slice(a + 1, b), vkey.slice(b + 1)];
    const raw = b64(parts[2]);
    if (raw.length !== 33 || raw[0] !== 1) throw new Error("not an Ed25519 verifier key");
    const pub = raw.slice(1);
    const id = (await sha256(concat(enc.encode(parts[0] + "\n"), Uint8Array.of(1), pub))).slice(0, 4);
    if (hex(id) !== parts[1]) throw new Error("verifier key id does not match its key");
    return { name: parts[0], publicKey: pub };
  }

  async function ed25519(pub, message, signature) {
    const key = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
    return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  }

  // Open a C2SP checkpoint note: both the plain note signature (type 0x01) and the timestamped
  // cosignature (type 0x04) of the log's key must verify. Throws with a reason otherwise.
  // ``vkey`` may be a list (the log's key, then its rotated keys): the first that signed the note wins.
  async function openCheckpoint(note, vkey) {
    if (Array.isArray(vkey)) {
      let last = new Error("no verifier key");
      for (const one of vkey) {
        try { return await openCheckpoint(note, one); } catch (err) { last = err; }
      }
      throw last;
    }
    const key = await parseVerifierKey(vkey);
    const cut = note.lastIndexOf("\n\n");
    if (cut < 0 || !note.endsWith("\n")) throw new Error("not a signed note");
    const text = note.slice(0, cut + 1);
    const lines = text.split("\n");
    if (lines.length < 4) throw new Error("not a checkpoint");
    const [origin, sizeText, rootText] = lines;
    if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) throw new Error("bad tree size");
    const root = b64(rootText);
    if (root.length !== 32) throw new Error("bad root hash");
    if (origin !== key.name) throw new Error("checkpoint origin is not the key's name");
    const plainId = (await sha256(concat(enc.encode(key.name + "\n"), Uint8Array.of(1), key.publicKey))).slice(0, 4);
    const timedId = (await sha256(concat(enc.encode(key.name + "\n"), Uint8Array.of(4), key.publicKey))).slice(0, 4);
    let plainOk = false, time = null;
    for (const line of note.slice(cut + 2, -1).split("\n")) {
      const m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!m) throw new Error("malformed signature line");
      if (m[1] !== key.name) continue;
      const raw = b64(m[2]);
      const id = raw.slice(0, 4), sig = raw.slice(4);
      if (equal(id, plainId)) {
        if (!(await ed25519(key.publicKey, enc.encode(text), sig))) throw new Error("checkpoint signature does not verify");
        plainOk = true;
      } else if (equal(id, timedId)) {
        if (sig.length !== 72) throw new Error("bad cosignature length");
        let t = 0n;
        for (const b of sig.slice(0, 8)) t = (t << 8n) | BigInt(b);
        const msg = concat(enc.encode("cosignature/v1\ntime " + t.toString() + "\n"), enc.encode(text));
        if (!(await ed25519(key.publicKey, msg, sig.slice(8)))) throw new Error("timestamped cosignature does not verify");
        time = Number(t);
      }
    }
    if (!plainOk || time === null) throw new Error("checkpoint is not signed by the log key");
    return { origin, size: Number(sizeText), root, time };
  }

  // Check one entry as the console's JSON gives it; returns {ok, checks:[{name, ok, detail}]}.
  async function verifyEntry(data, vkey) {
    const checks = [];
    const add = (name, ok, detail) => { checks.push({ name, ok, detail: detail || "" }); return ok; };
    try {
      const leaf = b64(data.leaf_b64);
      const text = new TextDecoder("utf-8", { fatal: true }).decode(leaf);
      const claimed = /^\{"index":(0|[1-9][0-9]*),/.exec(text);
      add("leaf_index", !!claimed && Number(claimed[1]) === data.index, "entry claims index " + (claimed ? claimed[1] : "?"));
      const lh = await leafHash(leaf);
      add("leaf_hash", hex(lh) === data.receipt.leaf_hash, "SHA-256(0x00 || entry) = " + hex(lh));
      const cp = await openCheckpoint(data.checkpoint_note, vkey);
      add("checkpoint_signature", true, "Ed25519, " + cp.origin + ", size " + cp.size + ", signed " + new Date(cp.time * 1000).toISOString());
      const proof = data.inclusion_proof;
      add("proof_size", proof.tree_size === cp.size, "proof tree size " + proof.tree_size);
      const root = await rootFromInclusion(data.index, cp.size, lh, proof.inclusion_path.map(unhex));
      add("inclusion", root !== null && equal(root, cp.root), "root " + (root ? hex(root) : "none") + " vs signed " + hex(cp.root));
    } catch (err) {
      add("error", false, String(err && err.message ? err.message : err));
    }
    return { ok: checks.length > 0 && checks.every((c) => c.ok), checks };
  }

  async function verifyConsistencyData(data, vkey) {
    const checks = [];
    const add = (name, ok, detail) => { checks.push({ name, ok, detail: detail || "" }); return ok; };
    try {
      const a = await openCheckpoint(data.first_note, vkey);
      add("first_signature", true, "size " + a.size);
      const b = await openCheckpoint(data.second_note, vkey);
      add("second_signature", true, "size " + b.size);
      const ok = await verifyConsistency(a.size, b.size, data.consistency_path.map(unhex), a.root, b.root);
      add("consistency", ok, a.size + " → " + b.size);
    } catch (err) {
      add("error", false, String(err && err.message ? err.message : err));
    }
    return { ok: checks.length > 0 && checks.every((c) => c.ok), checks };
  }

  // The keys the log published before a rotation (``ed25519_previous_<n>``): its older checkpoints
  // were signed with them.
  function previousKeys(verifierKeys) {
    return Object.keys(verifierKeys).filter((k) => k.startsWith("ed25519_previous_")).map((k) => verifierKeys[k]);
  }

  // The log key is pinned the first time it is seen in this browser; a later change is reported.
  function pinnedKey(vkey) {
    try {
      const pinned = localStorage.getItem("ledger-vkey");
      if (pinned === null) { localStorage.setItem("ledger-vkey", vkey); return { pinned: vkey, changed: false }; }
      return { pinned, changed: pinned !== vkey };
    } catch (_) {
      return { pinned: null, changed: false };
    }
  }

  function show(verdictEl, listEl, result, words) {
    verdictEl.dataset.verdict = result.ok ? "ok" : "fail";
    verdictEl.textContent = result.ok ? words.ok : words.fail;
    verdictEl.className = "verdict " + (result.ok ? "ok" : "fail");
    listEl.textContent = "";
    for (const c of result.checks) {
      const li = document.createElement("li");
      li.className = c.ok ? "ok" : "fail";
      li.dataset.check = c.name;
      li.textContent = (c.ok ? "✔ " : "✘ ") + c.name + ": " + c.detail;
      listEl.appendChild(li);
    }
  }

  global.LedgerVerify = {
    b64, hex, unhex, leafHash, nodeHash, rootFromInclusion, verifyConsistency,
    openCheckpoint, verifyEntry, verifyConsistencyData, pinnedKey, previousKeys, show,
  };
})(window);
