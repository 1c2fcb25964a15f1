"use strict";(self.rspackChunknbtrail=self.rspackChunknbtrail||[]).push([[232],{"./node_modules/css-loader/dist/cjs.js!./style/base.css"(e,r,t){var a=t("./node_modules/css-loader/dist/runtime/noSourceMaps.js"),n=t.n(a),i=t("./node_modules/css-loader/dist/runtime/api.js"),o=(t.n(i))()(n());o.push([e.id,`.nbtrail-panel {
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

.nbtrail-check-list,
.nbtrail-run-list {
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

/* A check opened in the panel: the card the server drew, sanitised. Its head (badge, name)
   repeats the list item's, so it is hidden; the item's own summary gives way to the card's. */
.nbtrail-check.nbtrail-open > .nbtrail-check-summary,
.nbtrail-panel .nbtrail-card .head {
  display: none;
}

.nbtrail-panel .nbtrail-card {
  margin-top: 4px;
  overflow-x: auto;
}

.nbtrail-panel .nbtrail-card .card {
  font-size: var(--jp-ui-font-size1);
}

.nbtrail-panel .nbtrail-card .badge {
  border-radius: 8px;
  color: #fff;
  font-size: 10px;
  font-weight: 700;
  padding: 0 6px;
  text-transform: uppercase;
}

.nbtrail-panel .nbtrail-card .badge.pass {
  background: #1e8e3e;
}

.nbtrail-panel .nbtrail-card .badge.warn {
  background: #f9ab00;
  color: #202124;
}

.nbtrail-panel .nbtrail-card .badge.fail {
  background: #d93025;
}

.nbtrail-panel .nbtrail-card .badge.error {
  background: #a50e0e;
}

.nbtrail-panel .nbtrail-card .subjects {
  margin: 2px 0 4px;
  color: var(--jp-ui-font-color1);
  overflow-wrap: anywhere;
}

.nbtrail-panel .nbtrail-card .subjects code {
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0);
}

.nbtrail-panel .nbtrail-card .summary {
  margin: 2px 0 4px;
}

.nbtrail-panel .nbtrail-card .muted {
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0);
}

.nbtrail-panel .nbtrail-card td.muted {
  font-size: inherit;
}

.nbtrail-panel .nbtrail-card table {
  border-collapse: collapse;
  margin: 4px 0;
  font-size: 11px;
}

.nbtrail-panel .nbtrail-card th,
.nbtrail-panel .nbtrail-card td {
  border-bottom: 1px solid var(--jp-border-color2);
  padding: 1px 4px;
  text-align: left;
  vertical-align: top;
  /* The sidebar is narrow: long cells wrap between words, wide tables scroll sideways. */
  min-width: 3em;
  max-width: 14em;
}

.nbtrail-panel .nbtrail-card th {
  background: var(--jp-layout-color2);
  font-weight: 600;
  white-space: nowrap;
}

.nbtrail-panel .nbtrail-card tr.bad td {
  background: rgba(217, 48, 37, 0.12);
}

.nbtrail-panel .nbtrail-card tr.meh td {
  background: rgba(249, 171, 0, 0.15);
}

.nbtrail-panel .nbtrail-card details summary {
  cursor: pointer;
  color: var(--jp-content-link-color);
  font-size: var(--jp-ui-font-size0);
}

.nbtrail-run {
  display: flex;
  flex-wrap: wrap;
  gap: 2px 6px;
  align-items: center;
  padding: 2px 4px;
  cursor: pointer;
}

.nbtrail-run-name {
  flex: 1 1 auto;
  min-width: 0;
  overflow-wrap: anywhere;
}

.nbtrail-run > .nbtrail-muted {
  font-size: var(--jp-ui-font-size0);
  white-space: nowrap;
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

.nbtrail-monitor-list,
.nbtrail-alert-list {
  list-style: none;
  margin: 0;
  padding: 0;
}

.nbtrail-monitor {
  border: 1px solid var(--jp-border-color2);
  border-radius: 4px;
  margin: 4px 0;
  padding: 4px 6px;
}

.nbtrail-monitor.nbtrail-selected {
  background: var(--jp-brand-color3);
}

.nbtrail-monitor-head {
  display: flex;
  flex-wrap: wrap;
  gap: 2px 6px;
  align-items: center;
  cursor: pointer;
}

.nbtrail-monitor-head > .nbtrail-muted {
  font-size: var(--jp-ui-font-size0);
}

.nbtrail-alert,
.nbtrail-trigger,
.nbtrail-deliveries {
  margin: 4px 0 0 8px;
  font-size: var(--jp-ui-font-size0);
}

.nbtrail-alert-summary {
  margin-left: 6px;
  overflow-wrap: anywhere;
}

.nbtrail-alert-action {
  color: var(--jp-ui-font-color2);
  margin-top: 2px;
}
`,""]),t.d(r,{},{A:o})},"./node_modules/css-loader/dist/runtime/api.js"(e){e.exports=function(e){var r=[];return r.toString=function(){return this.map(function(r){var t="",a=void 0!==r[5];return r[4]&&(t+="@supports (".concat(r[4],") {")),r[2]&&(t+="@media ".concat(r[2]," {")),a&&(t+="@layer".concat(r[5].length>0?" ".concat(r[5]):""," {")),t+=e(r),a&&(t+="}"),r[2]&&(t+="}"),r[4]&&(t+="}"),t}).join("")},r.i=function(e,t,a,n,i){"string"==typeof e&&(e=[[null,e,void 0]]);var o={};if(a)for(var l=0;l<this.length;l++){var s=this[l][0];null!=s&&(o[s]=!0)}for(var d=0;d<e.length;d++){var c=[].concat(e[d]);a&&o[c[0]]||(void 0!==i&&(void 0===c[5]||(c[1]="@layer".concat(c[5].length>0?" ".concat(c[5]):""," {").concat(c[1],"}")),c[5]=i),t&&(c[2]&&(c[1]="@media ".concat(c[2]," {").concat(c[1],"}")),c[2]=t),n&&(c[4]?(c[1]="@supports (".concat(c[4],") {").concat(c[1],"}"),c[4]=n):c[4]="".concat(n)),r.push(c))}},r}},"./node_modules/css-loader/dist/runtime/noSourceMaps.js"(e){e.exports=function(e){return e[1]}},"./node_modules/style-loader/dist/runtime/injectStylesIntoStyleTag.js"(e){var r=[];function t(e){for(var t=-1,a=0;a<r.length;a++)if(r[a].identifier===e){t=a;break}return t}function a(e,a){for(var n={},i=[],o=0;o<e.length;o++){var l=e[o],s=a.base?l[0]+a.base:l[0],d=n[s]||0,c="".concat(s," ").concat(d);n[s]=d+1;var p=t(c),u={css:l[1],media:l[2],sourceMap:l[3],supports:l[4],layer:l[5]};if(-1!==p)r[p].references++,r[p].updater(u);else{var b=function(e,r){var t=r.domAPI(r);return t.update(e),function(r){r?(r.css!==e.css||r.media!==e.media||r.sourceMap!==e.sourceMap||r.supports!==e.supports||r.layer!==e.layer)&&t.update(e=r):t.remove()}}(u,a);a.byIndex=o,r.splice(o,0,{identifier:c,updater:b,references:1})}i.push(c)}return i}e.exports=function(e,n){var i=a(e=e||[],n=n||{});return function(e){e=e||[];for(var o=0;o<i.length;o++){var l=t(i[o]);r[l].references--}for(var s=a(e,n),d=0;d<i.length;d++){var c=t(i[d]);0===r[c].references&&(r[c].updater(),r.splice(c,1))}i=s}}},"./node_modules/style-loader/dist/runtime/insertBySelector.js"(e){var r={};e.exports=function(e,t){var a=function(e){if(void 0===r[e]){var t=document.querySelector(e);if(window.HTMLIFrameElement&&t instanceof window.HTMLIFrameElement)try{t=t.contentDocument.head}catch(e){t=null}r[e]=t}return r[e]}(e);if(!a)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");a.appendChild(t)}},"./node_modules/style-loader/dist/runtime/insertStyleElement.js"(e){e.exports=function(e){var r=document.createElement("style");return e.setAttributes(r,e.attributes),e.insert(r,e.options),r}},"./node_modules/style-loader/dist/runtime/setAttributesWithoutAttributes.js"(e,r,t){e.exports=function(e){var r=t.nc;r&&e.setAttribute("nonce",r)}},"./node_modules/style-loader/dist/runtime/styleDomAPI.js"(e){e.exports=function(e){if("u"<typeof document)return{update:function(){},remove:function(){}};var r=e.insertStyleElement(e);return{update:function(t){var a,n,i;a="",t.supports&&(a+="@supports (".concat(t.supports,") {")),t.media&&(a+="@media ".concat(t.media," {")),(n=void 0!==t.layer)&&(a+="@layer".concat(t.layer.length>0?" ".concat(t.layer):""," {")),a+=t.css,n&&(a+="}"),t.media&&(a+="}"),t.supports&&(a+="}"),(i=t.sourceMap)&&"u">typeof btoa&&(a+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(i))))," */")),e.styleTagTransform(a,r,e.options)},remove:function(){var e;null===(e=r).parentNode||e.parentNode.removeChild(e)}}}},"./node_modules/style-loader/dist/runtime/styleTagTransform.js"(e){e.exports=function(e,r){if(r.styleSheet)r.styleSheet.cssText=e;else{for(;r.firstChild;)r.removeChild(r.firstChild);r.appendChild(document.createTextNode(e))}}},"./style/index.js"(e,r,t){var a=t("./node_modules/style-loader/dist/runtime/injectStylesIntoStyleTag.js"),n=t.n(a),i=t("./node_modules/style-loader/dist/runtime/styleDomAPI.js"),o=t.n(i),l=t("./node_modules/style-loader/dist/runtime/insertBySelector.js"),s=t.n(l),d=t("./node_modules/style-loader/dist/runtime/setAttributesWithoutAttributes.js"),c=t.n(d),p=t("./node_modules/style-loader/dist/runtime/insertStyleElement.js"),u=t.n(p),b=t("./node_modules/style-loader/dist/runtime/styleTagTransform.js"),f=t.n(b),m=t("./node_modules/css-loader/dist/cjs.js!./style/base.css"),g={};g.styleTagTransform=f(),g.setAttributes=c(),g.insert=s().bind(null,"head"),g.domAPI=o(),g.insertStyleElement=u(),n()(m.A,g),m.A&&m.A.locals&&m.A.locals}}]);