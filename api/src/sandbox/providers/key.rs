//! The sandbox service account's RSA key pair.
//!
//! THIS KEY IS PUBLIC. It was generated once, for the sandbox only
//! (`openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`), is
//! published with the source, and grants nothing anywhere: no Google project
//! knows it. The sandbox token endpoint trusts it and nothing else does.

/// The private half (PKCS#8 PEM), handed out in the sandbox service-account
/// JSON so the production client can sign its token assertions.
pub(super) const PRIVATE_KEY_PEM: &str = "\
-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDaEYHSfI2V9yWA
fHckFZgRtuEs3LZaKOj7/dPhLHo4tyL3sEaWDNtlIqIQu1wkQutifYbQGrQ25Aom
/oK00ENSULsPcPh68PSjkQb/cPWTbL8oG7eSCe9jhXRcWsAuzNKDKvculNbDMqxR
bV3UlnXzX0IEjAGGg0NcFULuMjjt/oeEX7OURGJYyhAMixd/Tuux9Agf9x7+4n2F
gUQRPVOFRQtHke2IF74qe/q67I/oqDD4FKwyk7TvDTV3gK5Bgkujl2m5TwzHuKNQ
mdluzqD3DUY9VR9lbeMU/ZBp3O7uMWwMBGYW2ert3BhuJC8mhgUK4vva8HwEJXLH
9arGfMHdAgMBAAECggEACuHdxynFDQtQ2UkczvWu6Y9lTE5VYUlyWwTvOmj0TnlB
KvgmhZ1to23nhYs8DWkzgu49uIvkm2qk4Q5JaomMGoMB2sLp+4SjyLfXkA7Miode
QLulXQnW4vIJfQRgW9WH2djejfoKf6I7PDMHgDDkAPmrezubZeGODn3XIbjq42F9
OekDuetLw+lQ+iv1JNP2WqDhNCyDrb4IJ/ZVfKSFsk0qrPsHiCKtHLo/xAJdR5dr
fQ7ToEdNqINhtsF5hd6xZbfShAyEtdKCu/TTlBY7uNyVZiAknK/7Dilbc9aAUtAY
+KOms5oRPH+NZ5rGIuazLarw3mS9Ku6Zgqf1REG7hwKBgQD28pBVpJJOU7uWCPNS
iYonlMkvmcO9h+vQh81vi46ZTo8yqO9Z8D0JAjIwczR/5EU0X1L65XvOEGBB+Pif
bMkOowy9vAh7Qw4KMzhdXfRSo5ZPppDjY64I9bfC068+oQpFCLuLpV3JZ2tAQzVe
yIfXIGx6ARcu7RxHoN6OBQwVQwKBgQDiD+6gl9RjN+PdRK8cIvbjJJ/XdptXlPc7
S9x/jlTNK5EY/V8aIsbsd2+E/HJp9YmwC4XgLhAKQ8PoQD+hnBMJ2yXfs015vCV8
d/DX7czRgiHReFBoPuoaD+X8JTEAtHGR9S93IYtoR/RQ0S0QL+bEzV/N8p1WWizd
3/C5aD7KXwKBgQCXrvCHGnofkIEVrFPBK+hnXZWiHmHEBjwLr465aFBjzIRayreS
V+U1plqrtefWcqErhS3UHKdKMHbfrw0P5+MrkW1fEaNoCw0RqNqDRxWuuPq33Aj9
ExowOLXx/tKStpo3QyDnquCLuHGBXIbovGXr9ueKnSbfVRdcy+xH8cO1PwKBgAJW
s9tJdtMH8v2JBl6+Jdu3t0edXIINcnlUkZVoPYxZ1QhzJpa4oWI04hx4GB7sgV4m
4F2vXE8e4Fn4wC/F05SYhc3IpxaJUcH147H4LdRFCmCGZB6P+BAI9hIjuFwPgdVG
uhT7bdvIUsi7QUIXnMWQcltJFUOdbzVkabMhVvT1AoGAcdHg4sh4Zac7k7NdBNFW
Rw+mR3Ru1Okp86nxP36VOf6h4GxRDx6KTziCOyujypKhZwU64WvKgPWTO/+gk7RL
LACYZvISI3Y9fH4Trkwqhplgy6m+Pc5A9lIyDHZhE9HbX+1SZFaMk5FLSUn2fOW4
w+3tMTwc1MUVUPakz5pXLXo=
-----END PRIVATE KEY-----
";

/// The public half (SPKI PEM), with which the sandbox token endpoint checks
/// those signatures.
pub(super) const PUBLIC_KEY_PEM: &str = "\
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA2hGB0nyNlfclgHx3JBWY
EbbhLNy2Wijo+/3T4Sx6OLci97BGlgzbZSKiELtcJELrYn2G0Bq0NuQKJv6CtNBD
UlC7D3D4evD0o5EG/3D1k2y/KBu3kgnvY4V0XFrALszSgyr3LpTWwzKsUW1d1JZ1
819CBIwBhoNDXBVC7jI47f6HhF+zlERiWMoQDIsXf07rsfQIH/ce/uJ9hYFEET1T
hUULR5HtiBe+Knv6uuyP6Kgw+BSsMpO07w01d4CuQYJLo5dpuU8Mx7ijUJnZbs6g
9w1GPVUfZW3jFP2Qadzu7jFsDARmFtnq7dwYbiQvJoYFCuL72vB8BCVyx/WqxnzB
3QIDAQAB
-----END PUBLIC KEY-----
";

/// The key's ID, as Google lists it (`private_key_id`, and `kid` in assertion
/// headers): here the SHA-1 of the public key's DER encoding.
pub(super) const PRIVATE_KEY_ID: &str = "60048549adaee4dfb542fba083daae52ef5a3360";
