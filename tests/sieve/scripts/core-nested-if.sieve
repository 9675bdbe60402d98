if exists "from" {
  if exists "date" {
    if header :contains "from" "example.org" { discard; }
  }
}
