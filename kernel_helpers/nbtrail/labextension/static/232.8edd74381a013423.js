"use strict";(self.rspackChunknbtrail=self.rspackChunknbtrail||[]).push([[232],{8475(e,r,t){var n=t(1601),a=t.n(n),i=t(6314),o=(t.n(i))()(a());o.push([e.id,`.nbtrail-panel {
  background: var(--jp-layout-color1);
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size1);
  overflow: auto;
  padding: 8px;
}

.nbtrail-panel-header {
  display: flex;
  justify-content: space-between;
  align-items: center;
  gap: 8px;
}

.nbtrail-panel-title {
  font-weight: 600;
  overflow: hidden;
  text-overflow: ellipsis;
}

.nbtrail-section {
  font-size: var(--jp-ui-font-size1);
  margin: 12px 0 4px;
  text-transform: uppercase;
  color: var(--jp-ui-font-color2);
}

.nbtrail-muted,
.nbtrail-empty {
  color: var(--jp-ui-font-color2);
}

.nbtrail-graph {
  overflow: auto;
  border: 1px solid var(--jp-border-color2);
  border-radius: 4px;
  min-height: 40px;
}

.nbtrail-lineage {
  display: block;
  max-width: 100%;
  height: auto;
  cursor: zoom-in;
}

.nbtrail-actual-size .nbtrail-lineage {
  max-width: none;
  cursor: zoom-out;
}

.nbtrail-legend {
  display: flex;
  flex-wrap: wrap;
  gap: 4px;
  padding: 2px 4px 4px;
  font-size: var(--jp-ui-font-size0);
}

.nbtrail-legend-item {
  border: 1px solid var(--jp-border-color1);
  border-radius: 6px;
  padding: 0 4px;
}

.nbtrail-legend-item.nbtrail-kind-file {
  border-style: dashed;
  border-radius: 1px;
}

.nbtrail-legend-item.nbtrail-kind-model {
  background: #f3e8fd;
  border-color: #8430ce;
}

.nbtrail-legend-item.nbtrail-kind-dataframe,
.nbtrail-legend-item.nbtrail-kind-series {
  background: #e8f0fe;
  border-color: #1a73e8;
}

.nbtrail-lineage .nbtrail-node rect {
  fill: var(--jp-layout-color0);
  stroke: var(--jp-border-color1);
}

.nbtrail-lineage .nbtrail-kind-file rect {
  stroke-dasharray: 4 2;
}

.nbtrail-lineage .nbtrail-kind-model rect {
  fill: #f3e8fd;
  stroke: #8430ce;
}

.nbtrail-lineage .nbtrail-kind-dataframe rect,
.nbtrail-lineage .nbtrail-kind-series rect {
  fill: #e8f0fe;
  stroke: #1a73e8;
}

.nbtrail-lineage text {
  font-size: 11px;
  fill: var(--jp-ui-font-color1);
}

.nbtrail-lineage .nbtrail-edge {
  fill: none;
  stroke: var(--jp-ui-font-color2);
  stroke-width: 1.2;
}

.nbtrail-lineage .nbtrail-arrowhead {
  fill: var(--jp-ui-font-color2);
}

.nbtrail-checks,
.nbtrail-runs {
  list-style: none;
  margin: 0;
  padding: 0;
}

.nbtrail-check {
  border: 1px solid var(--jp-border-color2);
  border-radius: 4px;
  margin: 4px 0;
  padding: 4px 6px;
}

.nbtrail-check-head {
  cursor: pointer;
  display: flex;
  gap: 6px;
  align-items: center;
}

.nbtrail-check-name {
  font-weight: 600;
}

.nbtrail-badge {
  border-radius: 8px;
  color: #fff;
  font-size: 10px;
  font-weight: 700;
  padding: 0 6px;
  text-transform: uppercase;
}

.nbtrail-badge-pass,
.nbtrail-badge-succeeded {
  background: #1e8e3e;
}

.nbtrail-badge-warn,
.nbtrail-badge-running {
  background: #f9ab00;
  color: #202124;
}

.nbtrail-badge-fail,
.nbtrail-badge-failed,
.nbtrail-badge-aborted {
  background: #d93025;
}

.nbtrail-badge-error {
  background: #a50e0e;
}

.nbtrail-table {
  border-collapse: collapse;
  margin: 4px 0;
  font-size: 11px;
}

.nbtrail-table td,
.nbtrail-table th {
  border-bottom: 1px solid var(--jp-border-color2);
  padding: 1px 6px;
  text-align: left;
}

.nbtrail-run {
  display: flex;
  gap: 6px;
  align-items: center;
  padding: 2px 4px;
  cursor: pointer;
}

.nbtrail-run:hover {
  background: var(--jp-layout-color2);
}

.nbtrail-run.nbtrail-selected {
  background: var(--jp-brand-color3);
}

.nbtrail-status-failing {
  color: #d93025;
}

.nbtrail-run-form {
  display: flex;
  flex-direction: column;
  gap: 8px;
  min-width: 420px;
}

.nbtrail-run-field {
  display: grid;
  grid-template-columns: 160px 1fr;
  gap: 2px 8px;
  align-items: center;
}

.nbtrail-run-field .nbtrail-muted {
  grid-column: 2;
  font-size: 11px;
}

.nbtrail-run-links {
  display: flex;
  gap: 12px;
  margin-top: 8px;
}

.nbtrail-lineage .nbtrail-kind-ndarray rect,
.nbtrail-legend-item.nbtrail-kind-ndarray {
  fill: #fef7e0;
  background: #fef7e0;
  stroke: #e37400;
  border-color: #e37400;
}
`,""]),t.d(r,{},{A:o})},6314(e){e.exports=function(e){var r=[];return r.toString=function(){return this.map(function(r){var t="",n=void 0!==r[5];return r[4]&&(t+="@supports (".concat(r[4],") {")),r[2]&&(t+="@media ".concat(r[2]," {")),n&&(t+="@layer".concat(r[5].length>0?" ".concat(r[5]):""," {")),t+=e(r),n&&(t+="}"),r[2]&&(t+="}"),r[4]&&(t+="}"),t}).join("")},r.i=function(e,t,n,a,i){"string"==typeof e&&(e=[[null,e,void 0]]);var o={};if(n)for(var l=0;l<this.length;l++){var d=this[l][0];null!=d&&(o[d]=!0)}for(var c=0;c<e.length;c++){var s=[].concat(e[c]);n&&o[s[0]]||(void 0!==i&&(void 0===s[5]||(s[1]="@layer".concat(s[5].length>0?" ".concat(s[5]):""," {").concat(s[1],"}")),s[5]=i),t&&(s[2]&&(s[1]="@media ".concat(s[2]," {").concat(s[1],"}")),s[2]=t),a&&(s[4]?(s[1]="@supports (".concat(s[4],") {").concat(s[1],"}"),s[4]=a):s[4]="".concat(a)),r.push(s))}},r}},1601(e){e.exports=function(e){return e[1]}},5072(e){var r=[];function t(e){for(var t=-1,n=0;n<r.length;n++)if(r[n].identifier===e){t=n;break}return t}function n(e,n){for(var a={},i=[],o=0;o<e.length;o++){var l=e[o],d=n.base?l[0]+n.base:l[0],c=a[d]||0,s="".concat(d," ").concat(c);a[d]=c+1;var p=t(s),u={css:l[1],media:l[2],sourceMap:l[3],supports:l[4],layer:l[5]};if(-1!==p)r[p].references++,r[p].updater(u);else{var b=function(e,r){var t=r.domAPI(r);return t.update(e),function(r){r?(r.css!==e.css||r.media!==e.media||r.sourceMap!==e.sourceMap||r.supports!==e.supports||r.layer!==e.layer)&&t.update(e=r):t.remove()}}(u,n);n.byIndex=o,r.splice(o,0,{identifier:s,updater:b,references:1})}i.push(s)}return i}e.exports=function(e,a){var i=n(e=e||[],a=a||{});return function(e){e=e||[];for(var o=0;o<i.length;o++){var l=t(i[o]);r[l].references--}for(var d=n(e,a),c=0;c<i.length;c++){var s=t(i[c]);0===r[s].references&&(r[s].updater(),r.splice(s,1))}i=d}}},7659(e){var r={};e.exports=function(e,t){var n=function(e){if(void 0===r[e]){var t=document.querySelector(e);if(window.HTMLIFrameElement&&t instanceof window.HTMLIFrameElement)try{t=t.contentDocument.head}catch(e){t=null}r[e]=t}return r[e]}(e);if(!n)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");n.appendChild(t)}},540(e){e.exports=function(e){var r=document.createElement("style");return e.setAttributes(r,e.attributes),e.insert(r,e.options),r}},5056(e,r,t){e.exports=function(e){var r=t.nc;r&&e.setAttribute("nonce",r)}},7825(e){e.exports=function(e){if("u"<typeof document)return{update:function(){},remove:function(){}};var r=e.insertStyleElement(e);return{update:function(t){var n,a,i;n="",t.supports&&(n+="@supports (".concat(t.supports,") {")),t.media&&(n+="@media ".concat(t.media," {")),(a=void 0!==t.layer)&&(n+="@layer".concat(t.layer.length>0?" ".concat(t.layer):""," {")),n+=t.css,a&&(n+="}"),t.media&&(n+="}"),t.supports&&(n+="}"),(i=t.sourceMap)&&"u">typeof btoa&&(n+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(i))))," */")),e.styleTagTransform(n,r,e.options)},remove:function(){var e;null===(e=r).parentNode||e.parentNode.removeChild(e)}}}},1113(e){e.exports=function(e,r){if(r.styleSheet)r.styleSheet.cssText=e;else{for(;r.firstChild;)r.removeChild(r.firstChild);r.appendChild(document.createTextNode(e))}}},8579(e,r,t){var n=t(5072),a=t.n(n),i=t(7825),o=t.n(i),l=t(7659),d=t.n(l),c=t(5056),s=t.n(c),p=t(540),u=t.n(p),b=t(1113),f=t.n(b),g=t(8475),m={};m.styleTagTransform=f(),m.setAttributes=s(),m.insert=d().bind(null,"head"),m.domAPI=o(),m.insertStyleElement=u(),a()(g.A,m),g.A&&g.A.locals&&g.A.locals}}]);