"use strict";(self.rspackChunknbtrail=self.rspackChunknbtrail||[]).push([[232],{"./node_modules/css-loader/dist/cjs.js!./style/base.css"(r,e,t){var a=t("./node_modules/css-loader/dist/runtime/noSourceMaps.js"),n=t.n(a),i=t("./node_modules/css-loader/dist/runtime/api.js"),o=(t.n(i))()(n());o.push([r.id,`.nbtrail-panel {
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

.nbtrail-registry-list,
.nbtrail-version-list {
  list-style: none;
  margin: 0;
  padding: 0;
}

.nbtrail-model {
  border: 1px solid var(--jp-border-color2);
  border-radius: 4px;
  margin: 4px 0;
  padding: 4px 6px;
}

.nbtrail-version {
  margin: 4px 0 0 4px;
  padding-top: 2px;
  border-top: 1px solid var(--jp-border-color3);
}

.nbtrail-version-head {
  display: flex;
  flex-wrap: wrap;
  gap: 2px 6px;
  align-items: center;
}

.nbtrail-alias {
  background: var(--jp-brand-color3);
  border-radius: 3px;
  padding: 0 4px;
  font-size: var(--jp-ui-font-size0);
}

.nbtrail-policy,
.nbtrail-approvals {
  margin: 2px 0 0 8px;
  font-size: var(--jp-ui-font-size0);
}

.nbtrail-approve {
  margin: 4px 0 0 8px;
}
`,""]),t.d(e,{},{A:o})},"./node_modules/css-loader/dist/runtime/api.js"(r){r.exports=function(r){var e=[];return e.toString=function(){return this.map(function(e){var t="",a=void 0!==e[5];return e[4]&&(t+="@supports (".concat(e[4],") {")),e[2]&&(t+="@media ".concat(e[2]," {")),a&&(t+="@layer".concat(e[5].length>0?" ".concat(e[5]):""," {")),t+=r(e),a&&(t+="}"),e[2]&&(t+="}"),e[4]&&(t+="}"),t}).join("")},e.i=function(r,t,a,n,i){"string"==typeof r&&(r=[[null,r,void 0]]);var o={};if(a)for(var l=0;l<this.length;l++){var s=this[l][0];null!=s&&(o[s]=!0)}for(var d=0;d<r.length;d++){var p=[].concat(r[d]);a&&o[p[0]]||(void 0!==i&&(void 0===p[5]||(p[1]="@layer".concat(p[5].length>0?" ".concat(p[5]):""," {").concat(p[1],"}")),p[5]=i),t&&(p[2]&&(p[1]="@media ".concat(p[2]," {").concat(p[1],"}")),p[2]=t),n&&(p[4]?(p[1]="@supports (".concat(p[4],") {").concat(p[1],"}"),p[4]=n):p[4]="".concat(n)),e.push(p))}},e}},"./node_modules/css-loader/dist/runtime/noSourceMaps.js"(r){r.exports=function(r){return r[1]}},"./node_modules/style-loader/dist/runtime/injectStylesIntoStyleTag.js"(r){var e=[];function t(r){for(var t=-1,a=0;a<e.length;a++)if(e[a].identifier===r){t=a;break}return t}function a(r,a){for(var n={},i=[],o=0;o<r.length;o++){var l=r[o],s=a.base?l[0]+a.base:l[0],d=n[s]||0,p="".concat(s," ").concat(d);n[s]=d+1;var c=t(p),b={css:l[1],media:l[2],sourceMap:l[3],supports:l[4],layer:l[5]};if(-1!==c)e[c].references++,e[c].updater(b);else{var u=function(r,e){var t=e.domAPI(e);return t.update(r),function(e){e?(e.css!==r.css||e.media!==r.media||e.sourceMap!==r.sourceMap||e.supports!==r.supports||e.layer!==r.layer)&&t.update(r=e):t.remove()}}(b,a);a.byIndex=o,e.splice(o,0,{identifier:p,updater:u,references:1})}i.push(p)}return i}r.exports=function(r,n){var i=a(r=r||[],n=n||{});return function(r){r=r||[];for(var o=0;o<i.length;o++){var l=t(i[o]);e[l].references--}for(var s=a(r,n),d=0;d<i.length;d++){var p=t(i[d]);0===e[p].references&&(e[p].updater(),e.splice(p,1))}i=s}}},"./node_modules/style-loader/dist/runtime/insertBySelector.js"(r){var e={};r.exports=function(r,t){var a=function(r){if(void 0===e[r]){var t=document.querySelector(r);if(window.HTMLIFrameElement&&t instanceof window.HTMLIFrameElement)try{t=t.contentDocument.head}catch(r){t=null}e[r]=t}return e[r]}(r);if(!a)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");a.appendChild(t)}},"./node_modules/style-loader/dist/runtime/insertStyleElement.js"(r){r.exports=function(r){var e=document.createElement("style");return r.setAttributes(e,r.attributes),r.insert(e,r.options),e}},"./node_modules/style-loader/dist/runtime/setAttributesWithoutAttributes.js"(r,e,t){r.exports=function(r){var e=t.nc;e&&r.setAttribute("nonce",e)}},"./node_modules/style-loader/dist/runtime/styleDomAPI.js"(r){r.exports=function(r){if("u"<typeof document)return{update:function(){},remove:function(){}};var e=r.insertStyleElement(r);return{update:function(t){var a,n,i;a="",t.supports&&(a+="@supports (".concat(t.supports,") {")),t.media&&(a+="@media ".concat(t.media," {")),(n=void 0!==t.layer)&&(a+="@layer".concat(t.layer.length>0?" ".concat(t.layer):""," {")),a+=t.css,n&&(a+="}"),t.media&&(a+="}"),t.supports&&(a+="}"),(i=t.sourceMap)&&"u">typeof btoa&&(a+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(i))))," */")),r.styleTagTransform(a,e,r.options)},remove:function(){var r;null===(r=e).parentNode||r.parentNode.removeChild(r)}}}},"./node_modules/style-loader/dist/runtime/styleTagTransform.js"(r){r.exports=function(r,e){if(e.styleSheet)e.styleSheet.cssText=r;else{for(;e.firstChild;)e.removeChild(e.firstChild);e.appendChild(document.createTextNode(r))}}},"./style/index.js"(r,e,t){var a=t("./node_modules/style-loader/dist/runtime/injectStylesIntoStyleTag.js"),n=t.n(a),i=t("./node_modules/style-loader/dist/runtime/styleDomAPI.js"),o=t.n(i),l=t("./node_modules/style-loader/dist/runtime/insertBySelector.js"),s=t.n(l),d=t("./node_modules/style-loader/dist/runtime/setAttributesWithoutAttributes.js"),p=t.n(d),c=t("./node_modules/style-loader/dist/runtime/insertStyleElement.js"),b=t.n(c),u=t("./node_modules/style-loader/dist/runtime/styleTagTransform.js"),f=t.n(u),m=t("./node_modules/css-loader/dist/cjs.js!./style/base.css"),g={};g.styleTagTransform=f(),g.setAttributes=p(),g.insert=s().bind(null,"head"),g.domAPI=o(),g.insertStyleElement=b(),n()(m.A,g),m.A&&m.A.locals&&m.A.locals}}]);