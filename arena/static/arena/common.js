// Small helpers shared by the pages: JSON requests with the CSRF token.
export function csrfToken() {
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (!response.ok) {
    // Every answer of ours carries a message in the visitor's language; a proxy's may not.
    const message = (data && data.error && data.error.message) || document.body.dataset.failed || response.statusText;
    throw Object.assign(new Error(message), { status: response.status, code: data && data.error && data.error.code });
  }
  return data;
}
