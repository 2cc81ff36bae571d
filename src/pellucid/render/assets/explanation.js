(function(){
const root=document.getElementById(__PL_ID__);const ex=__PL_DATA__;const C=__PL_COLORS__;
const finite=v=>v!==null&&isFinite(v);
function esc(s){const d=document.createElement('span');d.textContent=s;return d.innerHTML;}
function tokens(){const seg=((ex.meta.label_info||{}).input||{}).segment||[];
 const tg=ex.labels.target;let row=tg.length-1;
 const bar=document.createElement('div');const body=document.createElement('div');
 tg.forEach((t,i)=>{const b=document.createElement('span');b.className='pl-tgt';b.textContent=t;
  b.onclick=()=>{row=i;draw();};bar.appendChild(b);});
 function draw(){[...bar.children].forEach((b,i)=>b.classList.toggle('pl-on',i===row));
  const s=ex.scores[row];const cs=C[row];body.innerHTML='';
  ex.labels.input.forEach((t,i)=>{const sp=document.createElement('span');sp.textContent=t;
   sp.title=t+': '+(finite(s[i])?s[i].toFixed(4):'not attributed');
   if(seg[i]==='template'){sp.className='pl-tok pl-tpl';}else{sp.className='pl-tok';
    const c=cs[i];if(c)sp.style.background=c;}
   body.appendChild(sp);});}
 root.appendChild(bar);root.appendChild(body);draw();}
function grid(scores,colors,rows,cols,title){let h='<div>'+esc(title)+'</div><table><tr><th></th>';
 cols.forEach(c=>h+='<th>'+esc(c)+'</th>');h+='</tr>';
 rows.forEach((r,i)=>{h+='<tr><th>'+esc(r)+'</th>';scores[i].forEach((v,j)=>{const c=colors[i][j];
  h+='<td title="'+esc(r+' / '+cols[j])+'" style="'+(c?'background:'+c:'')+'">'+(finite(v)?v.toFixed(3):'')+'</td>';});h+='</tr>';});
 const d=document.createElement('div');d.innerHTML=h+'</table>';root.appendChild(d);}
if(ex.axes.length===2&&ex.axes[0]==='target'&&ex.axes[1]==='input'){tokens();}
else if(ex.axes.length===2){grid(ex.scores,C,ex.labels[ex.axes[0]],ex.labels[ex.axes[1]],ex.axes[0]+' × '+ex.axes[1]);}
else if(ex.axes.length===3){ex.labels[ex.axes[0]].forEach((l,i)=>grid(ex.scores[i],C[i],ex.labels[ex.axes[1]],ex.labels[ex.axes[2]],ex.axes[0]+' '+l));}
})();
