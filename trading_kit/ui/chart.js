// trading_kit's price chart in the browser (an anywidget module).
//
// Python builds the plotly figure (trading_kit/ui/figure.py); this draws it with
// plotly.js and handles the mouse on the order lines itself: a press on a line and a
// drag move a ghost of it, and only the release sends ONE message to Python, at the
// release price. A released line stays in its pending style until Python says it has
// handled the move, and meanwhile further drags of it are ignored.

const PLOTLY = Symbol.for("trading_kit.plotly");
const GRAB_PX = 10; // height of the strip around a line that the mouse can grab
const CLICK_PX = 3; // a press that moves less than this is a click, not a drag
const VIEW_DELAY_MS = 150; // zoom and pan settle before the new range goes to Python
const DOUBLE_CLICK_MS = 300; // a click waits this long to know it is not a double-click

// plotly.js, once per page: the bundle is the state of one shared model, evaluated by the
// first chart that needs it (as CommonJS, so no AMD loader on the page can capture it).
function loadPlotly(model) {
  let promise = globalThis[PLOTLY];
  if (!promise) {
    promise = (async () => {
      const ref = String(model.get("_plotly") || "");
      const bundle = await model.widget_manager.get_model(ref.replace(/^IPY_MODEL_/, ""));
      const module = { exports: {} };
      new Function("module", "exports", bundle.get("source"))(module, module.exports);
      return module.exports;
    })();
    globalThis[PLOTLY] = promise;
    promise.catch(() => {
      if (globalThis[PLOTLY] === promise) delete globalThis[PLOTLY];
    });
  }
  return promise;
}

function make(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// Alpaca's tick: cents at or above $1, hundredths of a cent below (Python snaps again).
function toTick(price) {
  return Math.abs(price) >= 1 ? Math.round(price * 100) / 100 : Math.round(price * 1e4) / 1e4;
}

function priceText(price) {
  return Math.abs(price) >= 1
    ? price.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })
    : price.toFixed(4);
}

async function render({ model, el }) {
  el.classList.add("tk-chart");
  const frame = make("div", "tk-frame");
  const plot = make("div", "tk-plot");
  const layer = make("div", "tk-layer");
  const note = make("div", "tk-note");
  const loading = make("div", "tk-loading", "loading chart…");
  frame.style.minHeight = `${model.get("height")}px`;
  frame.append(plot, layer, loading);
  el.append(frame, note);

  let Plotly;
  try {
    Plotly = await loadPlotly(model);
  } catch (failure) {
    loading.textContent = `The chart could not load plotly.js: ${failure}`;
    return;
  }

  let seq = 0; // messages sent to Python, numbered: `handled` says how far Python got
  const waiting = new Map(); // line key -> {seq, price}: released, not yet handled
  let drag = null;
  let viewTimer = null;
  let disposed = false;

  const geometry = () => {
    const full = plot._fullLayout;
    const ya = full && full.yaxis;
    const xa = full && full.xaxis;
    if (!ya || !xa || !ya.range) return null;
    return { top: ya._offset, height: ya._length, left: xa._offset, width: xa._length,
             low: ya.range[0], high: ya.range[1] };
  };
  const yOf = (g, price) => g.top + ((g.high - price) / (g.high - g.low)) * g.height;
  const priceOf = (g, y) => g.high - ((y - g.top) / g.height) * (g.high - g.low);

  const send = (content) => {
    seq += 1;
    model.send({ ...content, seq });
    return seq;
  };

  // The visible range goes to Python only when the user changed it (zoom, pan); a resize
  // or the first draw sends the width alone, so a stale range never overrides Python's.
  function sendView(extra = {}) {
    const xa = plot._fullLayout && plot._fullLayout.xaxis;
    if (!xa || !xa.range) return;
    send({ event: "view", width: xa._length, ...extra });
  }

  function scheduleView(withRange) {
    clearTimeout(viewTimer);
    viewTimer = setTimeout(() => {
      const xa = plot._fullLayout && plot._fullLayout.xaxis;
      sendView(withRange && xa ? { x0: xa.range[0], x1: xa.range[1] } : {});
    }, VIEW_DELAY_MS);
  }

  function ghost(g, line, price, state) {
    const node = make("div", `tk-ghost tk-${state}`);
    node.style.left = `${g.left}px`;
    node.style.width = `${g.width}px`;
    node.style.top = `${yOf(g, price)}px`;
    node.style.borderTopColor = line.color;
    const label = make("span", "", `${line.label} → ${priceText(price)}`);
    label.style.color = line.color;
    node.append(label);
    return node;
  }

  // The grab strips over the lines, rebuilt after every draw (never during a drag).
  function placeHandles() {
    if (drag || disposed) return;
    const g = geometry();
    layer.replaceChildren();
    if (!g) return;
    for (const line of model.get("lines") || []) {
      const held = waiting.get(line.key);
      const state = line.state || (held ? "pending" : "");
      const handle = make("div", "tk-handle");
      handle.dataset.key = line.key;
      handle.dataset.price = String(line.price);
      handle.dataset.state = state;
      handle.style.left = `${g.left}px`;
      handle.style.width = `${g.width}px`;
      handle.style.top = `${yOf(g, line.price) - GRAB_PX / 2}px`;
      handle.style.height = `${GRAB_PX}px`;
      if (line.editable && !state) handle.classList.add("tk-editable");
      handle.title = state
        ? `${line.label}: a replace is in flight`
        : line.editable
          ? `${line.label}: drag to move the order, click to use its price`
          : `${line.label}: click to use its price`;
      handle.addEventListener("pointerdown", (event) => press(event, line, handle, state));
      layer.append(handle);
      if (held && !line.state) layer.append(ghost(g, line, held.price, "pending"));
    }
  }

  function press(event, line, handle, state) {
    if (event.button !== 0) return;
    event.preventDefault();
    event.stopPropagation(); // the press is ours, not the start of a plotly zoom box
    const g = geometry();
    if (!g) return;
    handle.setPointerCapture(event.pointerId);
    drag = { line, handle, g, y0: event.clientY, top: layer.getBoundingClientRect().top,
             moved: false, price: line.price, state, shadow: null };
    handle.addEventListener("pointermove", movePointer);
    handle.addEventListener("pointerup", release);
    handle.addEventListener("pointercancel", cancel);
  }

  function movePointer(event) {
    if (!drag) return;
    if (Math.abs(event.clientY - drag.y0) >= CLICK_PX) drag.moved = true;
    if (!drag.moved || drag.state || !drag.line.editable) return;
    const { g } = drag;
    const y = Math.min(g.top + g.height, Math.max(g.top, event.clientY - drag.top));
    drag.price = toTick(priceOf(g, y));
    drag.handle.style.top = `${y - GRAB_PX / 2}px`;
    if (!drag.shadow) {
      drag.shadow = ghost(g, drag.line, drag.price, "dragging");
      layer.append(drag.shadow);
    }
    drag.shadow.style.top = `${y}px`;
    drag.shadow.firstChild.textContent = `${drag.line.label} → ${priceText(drag.price)}`;
  }

  function finish() {
    const { handle } = drag;
    handle.removeEventListener("pointermove", movePointer);
    handle.removeEventListener("pointerup", release);
    handle.removeEventListener("pointercancel", cancel);
    drag = null;
    placeHandles();
  }

  function release(event) {
    if (!drag) return;
    movePointer(event);
    const { line, moved, price, state } = drag;
    if (!moved) {
      send({ event: "pick", price: line.price, what: line.label });
    } else if (state) {
      showNote({ text: `${line.label}: a replace is already in flight; wait for it.`, tone: "warn" });
    } else if (line.editable && price !== line.price) {
      waiting.set(line.key, { seq: send({ event: "move", key: line.key, price }), price });
    }
    finish();
  }

  function cancel() {
    if (drag) finish();
  }

  const TONES = { info: "tk-info", ok: "tk-ok", warn: "tk-warn", error: "tk-error" };
  function showNote(message) {
    note.replaceChildren();
    if (!message || !message.text) return;
    const text = make("span", TONES[message.tone] || "tk-info", message.text);
    note.append(text);
    if (message.confirm) {
      const yes = make("button", "tk-confirm", "Send the replace");
      const no = make("button", "tk-cancel", "Keep the order");
      yes.addEventListener("click", () => send({ event: "confirm" }));
      no.addEventListener("click", () => send({ event: "cancel" }));
      note.append(yes, no);
    }
  }

  async function draw() {
    const figure = model.get("figure") || { data: [], layout: {} };
    const layout = { ...figure.layout, height: model.get("height") };
    await Plotly.react(plot, figure.data, layout, model.get("config") || {});
    loading.remove();
    placeHandles();
  }

  function onHandled() {
    const done = model.get("handled");
    for (const [key, held] of waiting) if (held.seq <= done) waiting.delete(key);
    placeHandles();
  }

  const onFigure = () => draw();
  const onLines = () => placeHandles();
  const onMessage = () => showNote(model.get("message"));
  model.on("change:figure", onFigure);
  model.on("change:lines", onLines);
  model.on("change:message", onMessage);
  model.on("change:handled", onHandled);

  await draw();
  showNote(model.get("message"));
  plot.on("plotly_relayout", (event) => {
    if (Object.keys(event).some((key) => key.startsWith("xaxis"))) scheduleView(true);
    placeHandles();
  });
  // A click on a candle or a fill picks its price, unless it was the first half of a
  // double-click (which zooms out to every bar).
  let clickTimer = null;
  plot.on("plotly_click", (event) => {
    const point = event.points && event.points[0];
    if (!point) return;
    const price = typeof point.close === "number" ? point.close : point.y;
    if (typeof price !== "number") return;
    const what = typeof point.close === "number" ? "candle close" : point.data.name;
    clearTimeout(clickTimer);
    clickTimer = setTimeout(() => send({ event: "pick", price, what }), DOUBLE_CLICK_MS);
  });
  plot.on("plotly_doubleclick", () => {
    clearTimeout(clickTimer);
    sendView({ all: true });
  });
  const resized = new ResizeObserver(() => {
    if (!plot._fullLayout) return;
    Plotly.Plots.resize(plot);
    placeHandles();
    scheduleView(false);
  });
  resized.observe(frame);
  sendView({ initial: true }); // the width decides how many candles the default view shows

  return () => {
    send({ event: "detached" }); // Python stops following the account when no view is left
    disposed = true;
    clearTimeout(viewTimer);
    clearTimeout(clickTimer);
    resized.disconnect();
    model.off("change:figure", onFigure);
    model.off("change:lines", onLines);
    model.off("change:message", onMessage);
    model.off("change:handled", onHandled);
    Plotly.purge(plot);
  };
}

export default { render };
