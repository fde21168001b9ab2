// Starts GraphiQL on /graphql. Every operation signs in with the
// Authorization header typed into the Headers tab: queries and mutations
// send it as a header, and each subscription opens its own WebSocket whose
// connection_init carries {"authorization": "Bearer …"} from the headers of
// that moment, so a changed token is used by the next socket.
(function () {
  'use strict';
  var root = document.getElementById('graphiql');
  var endpoint = new URL(root.dataset.endpoint, window.location.href);
  var socket = new URL(endpoint.href);
  socket.protocol = endpoint.protocol === 'https:' ? 'wss:' : 'ws:';
  // GraphiQL's dialogs add a <style> element carrying this nonce, the only
  // inline style the page's Content-Security-Policy allows.
  window.__webpack_nonce__ = root.dataset.styleNonce;

  function authorization(headers) {
    var value = '';
    Object.keys(headers || {}).forEach(function (name) {
      if (name.toLowerCase() === 'authorization') {
        value = String(headers[name]);
      }
    });
    return value;
  }

  function fetcher(params, options) {
    var token = authorization(options && options.headers);
    return GraphiQL.createFetcher({
      url: endpoint.href,
      subscriptionUrl: socket.href,
      wsConnectionParams: token ? { authorization: token } : {},
    })(params, options);
  }

  var props = { fetcher: fetcher, defaultEditorToolsVisibility: true };
  if (root.dataset.introspection === 'off') {
    // Nothing to ask: the server refuses introspection.
    props.schema = null;
  }
  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));
})();
