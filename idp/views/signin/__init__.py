"""The hosted sign-in pages: first factor, second factor, forced enrollment, and the redirects
that carry a waiting authorization request between them."""
