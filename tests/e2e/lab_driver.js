// Functions the browser test (lab_driver.py) runs inside JupyterLab's page. Loaded
// before every page load with Playwright's add_init_script; lab_driver.py calls them as
// window.courseE2E.NAME(...).
window.courseE2E = {
  // The notebook panel open on `path`, found through JupyterLab's own objects.
  panel(path) {
    const app = window.jupyterapp;
    if (!app || !app.shell) return null;
    for (const w of app.shell.widgets('main')) {
      if (w.context && w.context.path === path && w.content && w.sessionContext) {
        return w;
      }
    }
    return null;
  },

  // Dialogs, notifications, and the kernel's and the cells' state.
  state(path) {
    const panel = window.courseE2E.panel(path);
    const shown = (sel) => Array.from(document.querySelectorAll(sel)).map(
      e => e.innerText.split('\n').map(t => t.trim()).filter(Boolean).join(' | ')
        .slice(0, 300));
    const dialogs = shown('.jp-Dialog');
    const toasts = shown('.Toastify__toast');
    if (!panel) return {panel: false, dialogs, toasts};
    const sc = panel.sessionContext;
    const kernel = sc.session ? sc.session.kernel : null;
    const prompts = Array.from(panel.node.querySelectorAll('.jp-InputPrompt'))
      .map(e => e.textContent.trim());
    return {
      panel: true,
      dialogs,
      toasts,
      ready: sc.isReady,
      kernel: kernel ? kernel.status : null,
      kernelName: kernel ? kernel.name : null,
      pending: prompts.filter(p => p.includes('*')).length,
      numbered: prompts.filter(p => /\[\d+\]/.test(p)).length,
    };
  },

  // Restart Kernel and Run All Cells.
  async run(path) {
    const panel = window.courseE2E.panel(path);
    window.jupyterapp.shell.activateById(panel.id);
    await window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs');
    // Not awaited: it waits for the "Restart Kernel?" dialog, clicked from Python.
    window.jupyterapp.commands.execute('notebook:restart-run-all');
    return true;
  },

  notebook(path) {
    return window.courseE2E.panel(path).content.model.toJSON();
  },

  rendered(path) {
    return Array.from(
      window.courseE2E.panel(path).node.querySelectorAll('.jp-OutputArea-output')
    ).map(e => ({mime: e.getAttribute('data-mime-type') || '', text: e.textContent}));
  },

  async images(path) {
    const imgs = Array.from(window.courseE2E.panel(path).node.querySelectorAll(
      '.jp-OutputArea-output img')).filter(i => i.src.startsWith('data:image/png'));
    let shown = 0;
    for (const img of imgs) {
      try { await img.decode(); } catch (e) {}
      if (img.naturalWidth > 0) shown += 1;
    }
    return {count: imgs.length, shown};
  },

  async videos([path, timeoutMs]) {
    const videos = Array.from(window.courseE2E.panel(path).node.querySelectorAll(
      '.jp-OutputArea-output video'));
    const out = [];
    for (const v of videos) {
      v.scrollIntoView({block: 'center'});
      const t0 = Date.now();
      while (v.readyState < 2 && !v.error && Date.now() - t0 < timeoutMs) {
        await new Promise(r => setTimeout(r, 250));
      }
      out.push({readyState: v.readyState, width: v.videoWidth,
                error: v.error ? `code ${v.error.code} ${v.error.message}` : null});
    }
    return out;
  },

  // Height of the whole notebook as laid out (down to its last cell, ignoring the
  // "scroll past end" space), plus the app's bars around it; scrolls back to the top.
  height(path) {
    const panel = window.courseE2E.panel(path);
    const scroller = panel.content.node.querySelector('.jp-WindowedPanel-outer')
      || panel.content.node;
    const cells = panel.content.node.querySelectorAll('.jp-Cell');
    const last = cells[cells.length - 1];
    const bottom = last
      ? last.getBoundingClientRect().bottom - scroller.getBoundingClientRect().top
        + scroller.scrollTop
      : scroller.scrollHeight;
    scroller.scrollTop = 0;
    return bottom + (window.innerHeight - scroller.clientHeight) + 40;
  },
};
