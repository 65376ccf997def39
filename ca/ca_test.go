package ca

import "testing"

func TestProfiles(t *testing.T) {
	if _, ok := Profiles[DefaultProfile]; !ok {
		t.Fatalf("default profile %q is not in Profiles", DefaultProfile)
	}
	for key, p := range Profiles {
		if p.Name != key {
			t.Errorf("profile under key %q is named %q", key, p.Name)
		}
		if p.Lifetime <= 0 || p.Lifetime > MaxLifetime {
			t.Errorf("profile %q has lifetime %v, want more than 0 and at most %v", key, p.Lifetime, MaxLifetime)
		}
		if p.Description == "" {
			t.Errorf("profile %q has no description", key)
		}
	}
}
