"""Faces of protected members: finding faces, describing them, and matching them.

Face work runs only on media that is already explicit (or, by an opt-in rule, strongly
AI-generated), and on members' own enrolment photos. dlib finds and aligns faces; its face
recognition network, converted to ONNX, describes each as a 128-d vector.
"""
