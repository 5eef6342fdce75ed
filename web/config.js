// The one place that names the API. "" means the same origin as the page (local mode serves
// both the app and the API). A static host elsewhere sets the API's URL here, without a
// trailing slash, e.g. "https://abc123.execute-api.eu-west-1.amazonaws.com", and the API's
// CorsAllowOrigins parameter lists the app's origin.
export const API_BASE_URL = "";
