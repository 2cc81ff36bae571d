"""Draw an :class:`~pellucid.types.Explanation` as self-contained HTML (no CDN, works offline).

:func:`explanation_fragment` is what Jupyter shows (``Explanation._repr_html_``);
:func:`explanation_page` wraps it into a standalone page (``pellucid explain --html``).
The data is embedded as JSON and drawn by a small inline script, so one renderer handles
every kind: token heat maps for ``("target", "input")`` (click a target token to switch row),
and coloured grids for any other 2-D or 3-D result.
"""

from __future__ import annotations

import html
import json
import uuid

from pellucid.types import Explanation

_STYLE = """
.pl-ex{font-family:system-ui,sans-serif;font-size:14px;line-height:1.9}
.pl-ex .pl-tok{padding:1px 2px;border-radius:3px;white-space:pre-wrap;cursor:default}
.pl-ex .pl-tpl{color:#999}
.pl-ex .pl-tgt{border:1px solid #ccc;border-radius:4px;padding:1px 4px;margin:1px;cursor:pointer;background:#fff}
.pl-ex .pl-tgt.pl-on{border-color:#333;font-weight:bold}
.pl-ex table{border-collapse:collapse;font-size:11px}
.pl-ex td,.pl-ex th{padding:2px 4px;border:1px solid #eee;text-align:right;white-space:pre}
.pl-ex .pl-meta{color:#666;font-size:12px}
"""

_SCRIPT = r"""
(function(){
const root=document.getElementById(%(id)s);const ex=%(data)s;
const finite=v=>v!==null&&isFinite(v);
function vmax(a){let m=0;for(const v of a.flat(9)){if(finite(v))m=Math.max(m,Math.abs(v));}return m||1;}
function color(v,m,signed){if(!finite(v))return null;let t=Math.max(-1,Math.min(1,v/m));
 const e=(t>=0||!signed)?[214,39,40]:[31,119,180];const a=Math.abs(t);
 return 'rgb('+e.map(c=>Math.round(255+(c-255)*a)).join(',')+')';}
function esc(s){const d=document.createElement('span');d.textContent=s;return d.innerHTML;}
function tokens(){const seg=((ex.meta.label_info||{}).input||{}).segment||[];
 const tg=ex.labels.target;let row=tg.length-1;
 const bar=document.createElement('div');const body=document.createElement('div');
 tg.forEach((t,i)=>{const b=document.createElement('span');b.className='pl-tgt';b.textContent=t;
  b.onclick=()=>{row=i;draw();};bar.appendChild(b);});
 function draw(){[...bar.children].forEach((b,i)=>b.classList.toggle('pl-on',i===row));
  const s=ex.scores[row];const m=vmax(s);body.innerHTML='';
  ex.labels.input.forEach((t,i)=>{const sp=document.createElement('span');sp.textContent=t;
   sp.title=t+': '+(finite(s[i])?s[i].toFixed(4):'not attributed');
   if(seg[i]==='template'){sp.className='pl-tok pl-tpl';}else{sp.className='pl-tok';
    const c=color(s[i],m,ex.signed);if(c)sp.style.background=c;}
   body.appendChild(sp);});}
 root.appendChild(bar);root.appendChild(body);draw();}
function grid(scores,rows,cols,title){const m=vmax(scores);let h='<div>'+esc(title)+'</div><table><tr><th></th>';
 cols.forEach(c=>h+='<th>'+esc(c)+'</th>');h+='</tr>';
 rows.forEach((r,i)=>{h+='<tr><th>'+esc(r)+'</th>';scores[i].forEach((v,j)=>{const c=color(v,m,ex.signed);
  h+='<td title="'+esc(r+' / '+cols[j])+'" style="'+(c?'background:'+c:'')+'">'+(finite(v)?v.toFixed(3):'')+'</td>';});h+='</tr>';});
 const d=document.createElement('div');d.innerHTML=h+'</table>';root.appendChild(d);}
if(ex.axes.length===2&&ex.axes[0]==='target'&&ex.axes[1]==='input'){tokens();}
else if(ex.axes.length===2){grid(ex.scores,ex.labels[ex.axes[0]],ex.labels[ex.axes[1]],ex.axes[0]+' × '+ex.axes[1]);}
else if(ex.axes.length===3){ex.labels[ex.axes[0]].forEach((l,i)=>grid(ex.scores[i],ex.labels[ex.axes[1]],ex.labels[ex.axes[2]],ex.axes[0]+' '+l));}
})();
"""


def explanation_fragment(ex: Explanation) -> str:
    """A ``<div>`` with inline style and script that draws ``ex``."""
    element_id = f"pl-{uuid.uuid4().hex[:12]}"
    data = json.dumps(ex.to_dict(), allow_nan=False).replace("</", "<\\/")
    meta = {k: v for k, v in ex.meta.items() if k != "label_info"}
    meta_text = ", ".join(f"{k}={v}" for k, v in meta.items() if isinstance(v, (int, float, str)))
    header = html.escape(f"{ex.method} · {ex.model} · {ex.kind}")
    script = _SCRIPT % {"id": json.dumps(element_id), "data": data}
    return (
        f"<style>{_STYLE}</style>"
        f'<div class="pl-ex"><div class="pl-meta">{header}</div>'
        f'<div id="{element_id}"></div>'
        f'<div class="pl-meta">{html.escape(meta_text)}</div></div>'
        f"<script>{script}</script>"
    )


def explanation_page(ex: Explanation, title: str | None = None) -> str:
    """A standalone HTML page (no external resources)."""
    title = html.escape(title or f"Pellucid · {ex.method}")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title></head><body><h3>{title}</h3>{explanation_fragment(ex)}</body></html>"
    )
