package engine

// Profiles (rules/profiles.go): run picks the customer's profile before
// the stage machine and again after a move, and the health and alert
// records of the evaluation say which one it was. Nothing of it is
// stored: the profile follows from the customer's state at each
// evaluation, so a customer whose traits or stage change is scored under
// its new profile at its next event or timer.

// profileField adds the evaluation's profile to a health or alert record,
// when the pack has profiles ("" for a customer none selects); a pack
// without any writes no such field, so its records stay as they were.
func (p *Partition) profileField(out *Outputs) {
	if len(p.pack.Profiles) == 0 {
		return
	}
	name := ""
	if p.eval.profile != nil {
		name = p.eval.profile.Name
	}
	out.stringField("profile", name)
}
