/* Form Post Response Mode: submit the authorization response to the client as soon as the page
 * has loaded. A file, not an inline script, because the CSP allows only 'self' scripts; the
 * page's own button does the same for a browser without JavaScript. */
(function () {
  "use strict";
  const form = document.querySelector("form[data-form-post]");
  if (form) form.submit();
})();
