"""Inline CSS and JavaScript of the leaderboard page (:mod:`harness.report.site`): no CDN, no server.

The script keeps one view: the pool and protocol (default paper5 / cv), the profile, kind and name
filters, the score shown (mu_n or mu_o), per-benchmark intervals, the benchmark of the per-benchmark
view and the routing-proportion scope. Every element tagged ``data-pool`` / ``data-protocol`` /
``data-bench`` / ``data-scope`` follows it; rows also follow the filters. The view is kept in the
URL's hash, so a link opens the same view. Tables with class ``sortable`` sort by a click on a header
(numbers by ``data-sort``, or ``data-sort-o`` when mu_o is shown). Imports: nothing.
"""

CSS = """
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1440px;
  padding:0 14px 40px;color:#1d1d1f}
header{padding:10px 0 4px} h1{font-size:1.35em;margin:0 0 2px} h2{font-size:1.15em;margin:1.6em 0 .4em;
  border-bottom:1px solid #e4e4e4;padding-bottom:3px} h3{font-size:1em;margin:1em 0 .3em}
.muted{color:#666;font-size:.88em} .links a{margin-right:.9em;white-space:nowrap}
nav.toc a{margin-right:.8em;font-size:.9em;white-space:nowrap}
.controls{display:flex;flex-wrap:wrap;gap:6px 14px;align-items:center;padding:6px 0;position:sticky;top:0;
  background:#fff;z-index:3;border-bottom:1px solid #eee}
.controls label{white-space:nowrap;font-size:.92em} select,input{font:inherit;font-size:.92em;max-width:100%}
#f-search{width:10em}
.poolinfo{font-size:.88em;color:#444;margin:4px 0 2px;overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;font-size:.9em;margin:.4em 0}
th,td{border-bottom:1px solid #e6e6e6;padding:3px 7px;text-align:right;white-space:nowrap;vertical-align:top}
th{background:#f5f5f7;font-weight:600;position:sticky;top:0;font-size:.92em}
table.sortable th{cursor:pointer;user-select:none} th[aria-sort=ascending]::after{content:" ▲"}
th[aria-sort=descending]::after{content:" ▼"} th .sub{display:block;font-weight:400;color:#777;font-size:.85em}
td.text,th.text{text-align:left} td.router{font-weight:600;position:sticky;left:0;background:#fff;z-index:1}
#leaderboard th.router{position:sticky;left:0;z-index:2}
tr.ref td{color:#555} tr.ref td.router{font-weight:400;font-style:italic}
.cell{display:inline-flex;flex-direction:column;align-items:flex-end} .cell .o{font-size:.8em;color:#777}
table.show-o .cell{flex-direction:column-reverse} table.show-o .cell .n{font-size:.8em;color:#777}
table.show-o .cell .o{font-size:1em;color:#1d1d1f}
.ci{color:#777;font-size:.8em} .ci.cn,.ci.co{display:none}
body.show-ci table:not(.show-o) .ci.cn,body.show-ci table.show-o .ci.co{display:block}
td.avg{font-weight:600;background:#f8fbff} td.avg .ci{display:block;font-weight:400}
.leader{color:#0a6b0a;font-weight:700} .tied{color:#8a5a00}
.bar{display:inline-block;height:.7em;background:#1f5fa8;vertical-align:middle;margin-left:4px;opacity:.8}
td.share{min-width:5.5em} .win{color:#0a6b0a} .loss{color:#a61b1b}
figure{margin:.8em 0;max-width:100%} figure svg{max-width:100%;height:auto} figcaption{font-size:.86em;color:#555}
details{margin:.3em 0} summary{cursor:pointer} pre{background:#f6f6f6;padding:.5em;overflow:auto;font-size:.8em;max-width:100%}
.md p,.md li{max-width:75em} code{font-size:.92em}
.show-narrow{display:none}
@media (max-width:600px){body{padding:0 8px 30px;font-size:13px} .hide-narrow{display:none}
  .show-narrow{display:inline}}
"""

JS = r"""
(function(){
  const $=(s,r)=>(r||document).querySelector(s), $$=(s,r)=>Array.from((r||document).querySelectorAll(s));
  const f={pool:$('#f-pool'),protocol:$('#f-protocol'),profile:$('#f-profile'),kind:$('#f-kind'),
           search:$('#f-search'),score:$('#f-score'),ci:$('#f-ci'),bench:$('#f-bench'),scope:$('#f-scope')};
  function readHash(){
    const h=new URLSearchParams(location.hash.slice(1));
    Object.keys(f).forEach(k=>{const v=h.get(k); if(v===null||!f[k])return;
      if(f[k].type==='checkbox')f[k].checked=v==='1'; else if(f[k].tagName!=='SELECT'||
        Array.from(f[k].options).some(o=>o.value===v))f[k].value=v;});
  }
  function writeHash(){
    const h=new URLSearchParams();
    Object.keys(f).forEach(k=>{if(f[k])h.set(k,f[k].type==='checkbox'?(f[k].checked?'1':'0'):f[k].value);});
    history.replaceState(null,'','#'+h.toString());
  }
  function protocolsOfPool(){
    const opt=f.pool.selectedOptions[0]; return opt?JSON.parse(opt.getAttribute('data-protocols')):[];
  }
  function inView(el){
    const p=el.getAttribute('data-pool'),q=el.getAttribute('data-protocol'),
          b=el.getAttribute('data-bench'),s=el.getAttribute('data-scope');
    return (p===null||p===f.pool.value)&&(q===null||q==='*'||q===f.protocol.value)&&
           (b===null||b===f.bench.value)&&(s===null||s===f.scope.value);
  }
  function rowOk(tr){
    const q=f.search.value.trim().toLowerCase(), k=f.kind.value, pr=f.profile.value;
    return (!q||tr.getAttribute('data-router').toLowerCase().includes(q))&&
           (k==='all'||tr.getAttribute('data-kind')===k)&&
           (pr==='all'||tr.getAttribute('data-profile')===pr||tr.getAttribute('data-profile')==='-');
  }
  function apply(){
    const protos=protocolsOfPool();
    Array.from(f.protocol.options).forEach(o=>{o.disabled=!protos.includes(o.value);});
    if(!protos.includes(f.protocol.value))f.protocol.value=protos[0];
    $$('[data-pool],[data-protocol],[data-bench],[data-scope],tr[data-router]').forEach(el=>{
      let ok=inView(el); if(ok&&el.tagName==='TR'&&el.hasAttribute('data-router'))ok=rowOk(el);
      el.style.display=ok?'':'none';});
    $$('table.scores').forEach(t=>t.classList.toggle('show-o',f.score.value==='mu_o'));
    document.body.classList.toggle('show-ci',f.ci.checked);
    writeHash();
  }
  function sortKey(td,useO){
    const v=td.getAttribute(useO&&td.hasAttribute('data-sort-o')?'data-sort-o':'data-sort');
    if(v===null)return td.textContent.trim().toLowerCase(); if(v==='')return null;
    const n=parseFloat(v); return isNaN(n)?v.toLowerCase():n;
  }
  $$('table.sortable').forEach(table=>{
    const heads=$$('thead th',table);
    heads.forEach((th,col)=>th.addEventListener('click',()=>{
      const asc=th.getAttribute('aria-sort')==='descending'||(th.getAttribute('aria-sort')===null&&th.classList.contains('text'));
      heads.forEach(h=>h.removeAttribute('aria-sort')); th.setAttribute('aria-sort',asc?'ascending':'descending');
      const useO=table.classList.contains('show-o'), body=table.tBodies[0];
      const rows=Array.from(body.rows);
      rows.sort((a,b)=>{const x=sortKey(a.cells[col],useO),y=sortKey(b.cells[col],useO);
        if(x===null&&y===null)return 0; if(x===null)return 1; if(y===null)return -1;
        if(typeof x==='number'&&typeof y==='number')return asc?x-y:y-x;
        if(typeof x==='number')return -1; if(typeof y==='number')return 1;
        return asc?String(x).localeCompare(String(y)):String(y).localeCompare(String(x));});
      rows.forEach(r=>body.appendChild(r));
    }));
  });
  Object.values(f).forEach(el=>{if(el)el.addEventListener(el.type==='search'?'input':'change',apply);});
  window.addEventListener('hashchange',()=>{readHash();apply();});
  readHash(); apply();
})();
"""
